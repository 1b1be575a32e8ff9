"""A practice ResNet18 task in the organisers' exact files, with its private answers kept apart.

``build_task`` writes ``pub.pt`` and ``priv_out.pt`` (pickled ``__main__.MembershipDataset``
objects with plain-list fields, as the course's organisers saved them) and the target's state dict
``01_MIA.pt`` into one folder, and the private set's membership into a separate ``answers.npz``,
so the toolkit can be judged on answers it never reads.

The images are synthetic and learnable but not trivially: each of the 44 classes has three
low-frequency colour prototypes, blended with a per-image low-frequency distractor, shifted by up
to 3 pixels and noised. The target is a ResNet18 trained on the members of both sets with the
task's recipe (the track's ``[shadow]`` table), so it overfits the way the real target does
(train accuracy 1.00, test accuracy well below).
"""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import numpy as np

from toolkit.errors import ConfigError
from toolkit.io import atomic_write_bytes

__all__ = ["save_membership_dataset", "synthetic_task_images", "draw_task", "write_task_files", "build_task"]

N_PROTOTYPES = 3
MAX_SHIFT = 3


def _organiser_classes():
    """Classes named ``__main__.TaskDataset`` / ``__main__.MembershipDataset``, as in the organisers' script."""

    def task_init(self, transform=None):
        self.ids, self.imgs, self.labels, self.transform = [], [], [], transform

    def member_init(self, transform=None):
        task_init(self, transform)
        self.membership = []

    task = type("TaskDataset", (), {"__module__": "__main__", "__init__": task_init})
    member = type("MembershipDataset", (task,), {"__module__": "__main__", "__init__": member_init})
    return task, member


@contextlib.contextmanager
def _in_main(*classes):
    """Make ``classes`` importable from ``__main__`` while pickling, then restore ``__main__``."""
    main = sys.modules["__main__"]
    saved = {c.__name__: getattr(main, c.__name__, None) for c in classes}
    for c in classes:
        setattr(main, c.__name__, c)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                delattr(main, name)
            else:
                setattr(main, name, old)


def save_membership_dataset(path: Path, ids, imgs, labels, membership) -> None:
    """``torch.save`` a ``__main__.MembershipDataset`` with plain-list fields, as the organisers did."""
    import torch

    task, member = _organiser_classes()
    obj = member()
    obj.ids = [int(i) for i in ids]
    obj.imgs = [torch.as_tensor(x, dtype=torch.float32).clone() for x in imgs]
    obj.labels = [int(y) for y in labels]
    obj.membership = [None if m is None else int(m) for m in membership]
    with _in_main(task, member):
        torch.save(obj, path)


def _upsample(patterns: np.ndarray) -> np.ndarray:
    """[n, 3, 4, 4] -> [n, 3, 32, 32], bilinear."""
    import torch

    t = torch.nn.functional.interpolate(torch.from_numpy(patterns.astype(np.float32)), size=32, mode="bilinear")
    return t.numpy()


def synthetic_task_images(
    labels: np.ndarray, seed: int, *, n_classes: int = 44, noise: float = 0.16, distractor: float = 0.48
) -> np.ndarray:
    """float32 [n, 3, 32, 32] in [0, 1]: class prototype ⊕ distractor, shifted, noised (module docstring)."""
    labels = np.asarray(labels, dtype=np.int64)
    protos = _upsample(np.random.default_rng(7_777).uniform(0, 1, (n_classes * N_PROTOTYPES, 3, 4, 4)))
    rng = np.random.default_rng(seed)
    n = len(labels)
    x = protos[labels * N_PROTOTYPES + rng.integers(0, N_PROTOTYPES, n)]
    x = (1 - distractor) * x + distractor * _upsample(rng.uniform(0, 1, (n, 3, 4, 4)))
    shifts = rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, (n, 2))
    out = np.empty_like(x)
    for dy, dx in np.unique(shifts, axis=0):  # at most 49 shift pairs, each applied to all its images at once
        rows = np.flatnonzero((shifts[:, 0] == dy) & (shifts[:, 1] == dx))
        out[rows] = np.roll(x[rows], (int(dy), int(dx)), axis=(2, 3))
    out += rng.normal(0.0, noise, out.shape).astype(np.float32)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def draw_task(rng, n_pub: int, n_priv: int, n_classes: int, *, first_id: int = 100_000, id_span: int = 4):
    """(ids int64 [n], labels int64 [n], membership int64 [n]): unique ids, half of each set members."""
    n = n_pub + n_priv
    ids = rng.permutation(np.arange(first_id, first_id + id_span * n))[:n]
    labels = rng.integers(0, n_classes, n)
    member = np.zeros(n, dtype=np.int64)
    member[rng.permutation(n_pub)[: n_pub // 2]] = 1
    member[n_pub + rng.permutation(n_priv)[: n_priv // 2]] = 1
    return ids, labels, member


def write_task_files(folder: Path, ids, imgs, labels, member, n_pub: int) -> None:
    """``pub.pt`` (the first ``n_pub`` points, with membership) and ``priv_out.pt`` (the rest, without)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_membership_dataset(folder / "pub.pt", ids[:n_pub], imgs[:n_pub], labels[:n_pub], member[:n_pub])
    save_membership_dataset(
        folder / "priv_out.pt", ids[n_pub:], imgs[n_pub:], labels[n_pub:], [None] * (len(ids) - n_pub)
    )


def build_task(
    folder: Path,
    answers: Path,
    *,
    n_pub: int = 4000,
    n_priv: int = 4000,
    n_classes: int = 44,
    seed: int = 0,
    train_cfg=None,
    model_name: str = "01_MIA.pt",
) -> dict:
    """Write the task into ``folder`` and the private membership into ``answers`` (an .npz); return figures.

    Half of each set are members; the target trains on the members of both. ``train_cfg`` defaults
    to the track's ``[shadow]`` recipe on CPU. Returns the target's train and test accuracy.
    """
    import torch

    from toolkit.data.tml import MEAN, STD
    from toolkit.models import build_model, save_model
    from toolkit.models.training import TrainConfig, train_model
    from toolkit.tracks import ShadowTraining

    if min(n_pub, n_priv) < 2 or n_classes > 44:
        raise ConfigError(f"need ≥ 2 points per set and ≤ 44 classes; got {n_pub}, {n_priv}, {n_classes}")
    folder, answers = Path(folder), Path(answers)
    if answers.resolve().is_relative_to(folder.resolve()):
        raise ConfigError(f"the answers file {answers} must lie outside the task folder {folder}")
    ids, labels, member = draw_task(np.random.default_rng(seed), n_pub, n_priv, n_classes, first_id=100_000)
    n = n_pub + n_priv
    imgs = synthetic_task_images(labels, seed + 1, n_classes=n_classes)
    write_task_files(folder, ids, imgs, labels, member, n_pub)
    buf = io.BytesIO()
    np.savez(buf, ids=ids[n_pub:], membership=member[n_pub:])
    atomic_write_bytes(answers, buf.getvalue())
    sh = ShadowTraining()
    cfg = train_cfg or TrainConfig(
        epochs=sh.epochs, batch_size=sh.batch_size, lr=sh.lr, optimizer=sh.optimizer, weight_decay=sh.weight_decay
    )
    x = (torch.from_numpy(imgs) - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    y = torch.from_numpy(labels)
    sel = torch.from_numpy(member == 1)
    model = train_model(build_model("resnet18_44", 44, seed=seed), x[sel], y[sel], cfg)
    save_model(model.cpu(), folder / model_name)
    with torch.no_grad():
        pred = torch.cat([model(x[i : i + 512]).argmax(1) for i in range(0, n, 512)])
    correct = (pred == y).numpy()
    return {"train_acc": float(correct[member == 1].mean()), "test_acc": float(correct[member == 0].mean())}
