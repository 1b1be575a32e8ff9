"""A practice ResNet18 task in the organisers' exact files, with its private answers kept apart.

``build_task`` writes a track's edition into one folder: the public set (a pickled
``__main__.MembershipDataset`` with plain-list fields, as the course's organisers saved it), the
private set (2025: a ``MembershipDataset`` whose membership is None; 2026: a plain
``__main__.TaskDataset`` with no membership field) and the target's state dict, under the names of
the track's ``[files]`` table; the private set's membership goes into a separate ``answers.npz``,
so the toolkit can be judged on answers it never reads.

The images are synthetic and learnable but not trivially: each class has three low-frequency colour
prototypes, blended with a per-image low-frequency distractor, shifted by up to 3 pixels and noised,
at the edition's image size. The target is the track's architecture trained on the members of both
sets with the track's ``[shadow]`` recipe, behind the organisers' transform (resize, normalise).
"""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import numpy as np

from toolkit.errors import ConfigError
from toolkit.io import atomic_write_bytes

__all__ = [
    "save_membership_dataset",
    "save_task_dataset",
    "prototypes",
    "synthetic_task_images",
    "draw_task",
    "write_task_files",
    "build_task",
]

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


def _save(path: Path, ids, imgs, labels, membership=None) -> None:
    """``torch.save`` the organisers' object: a MembershipDataset, or a TaskDataset where ``membership`` is None."""
    import torch

    task, member = _organiser_classes()
    obj = task() if membership is None else member()
    obj.ids = [int(i) for i in ids]
    obj.imgs = [torch.as_tensor(x, dtype=torch.float32).clone() for x in imgs]
    obj.labels = [int(y) for y in labels]
    if membership is not None:
        obj.membership = [None if m is None else int(m) for m in membership]
    with _in_main(task, member):
        torch.save(obj, path)


def save_membership_dataset(path: Path, ids, imgs, labels, membership) -> None:
    """``torch.save`` a ``__main__.MembershipDataset`` with plain-list fields, as the organisers did."""
    _save(path, ids, imgs, labels, list(membership))


def save_task_dataset(path: Path, ids, imgs, labels) -> None:
    """``torch.save`` a plain ``__main__.TaskDataset`` (no membership field: the 2026 private set)."""
    _save(path, ids, imgs, labels)


def _upsample(patterns: np.ndarray, size: int = 32) -> np.ndarray:
    """[n, 3, 4, 4] -> [n, 3, size, size], bilinear."""
    import torch

    t = torch.nn.functional.interpolate(torch.from_numpy(patterns.astype(np.float32)), size=size, mode="bilinear")
    return t.numpy()


def prototypes(n_classes: int, size: int = 32, symmetric: bool = False) -> np.ndarray:
    """float32 [n_classes · N_PROTOTYPES, 3, size, size]: each class's low-frequency colour prototypes
    (``symmetric``: each the mean of its 8 rotations and mirrors)."""
    patterns = np.random.default_rng(7_777).uniform(0, 1, (n_classes * N_PROTOTYPES, 3, 4, 4))
    if symmetric:
        maps = [np.rot90(m, k, axes=(2, 3)) for m in (patterns, patterns[..., ::-1]) for k in range(4)]
        patterns = np.mean(maps, axis=0)
    return _upsample(patterns, size)


def synthetic_task_images(
    labels: np.ndarray,
    seed: int,
    *,
    n_classes: int = 44,
    noise: float = 0.16,
    distractor: float = 0.48,
    size: int = 32,
    symmetric: bool = False,
) -> np.ndarray:
    """float32 [n, 3, size, size] in [0, 1]: class prototype ⊕ distractor, shifted, noised (module docstring).

    ``symmetric``: images with no canonical orientation (tissue tiles): every prototype is the mean of
    its 8 rotations and mirrors, so a rotated or mirrored image is still its class's."""
    labels = np.asarray(labels, dtype=np.int64)
    protos = prototypes(n_classes, size, symmetric)
    rng = np.random.default_rng(seed)
    n = len(labels)
    x = protos[labels * N_PROTOTYPES + rng.integers(0, N_PROTOTYPES, n)]
    x = (1 - distractor) * x + distractor * _upsample(rng.uniform(0, 1, (n, 3, 4, 4)), size)
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


def write_task_files(folder: Path, ids, imgs, labels, member, n_pub: int, files=None) -> None:
    """The public file (the first ``n_pub`` points, with membership) and the private one (the rest, without),
    under ``files``' names (``TaskFiles``; default 2025's). A private file named ``priv_out.pt`` is a
    MembershipDataset with membership None, as in 2025; any other is a plain TaskDataset, as in 2026."""
    from toolkit.task_format import TaskFiles

    files = files or TaskFiles()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_membership_dataset(folder / files.public, ids[:n_pub], imgs[:n_pub], labels[:n_pub], member[:n_pub])
    priv = (folder / files.private, ids[n_pub:], imgs[n_pub:], labels[n_pub:])
    if files.private == TaskFiles().private:
        save_membership_dataset(*priv, [None] * (len(ids) - n_pub))
    else:
        save_task_dataset(*priv)


def build_task(
    folder: Path,
    answers: Path,
    *,
    track=None,
    n_pub: int = 4000,
    n_priv: int = 4000,
    n_classes: int | None = None,
    seed: int = 0,
    train_cfg=None,
) -> dict:
    """Write ``track``'s edition (default: the built-in ``resnet18``) into ``folder`` and the private
    membership into ``answers`` (an .npz); return figures.

    Half of each set are members; the target (the track's architecture) trains on the members of both.
    ``n_classes`` (default the track's) may be smaller, with the head still the track's. ``train_cfg``
    defaults to the track's ``[shadow]`` recipe on this machine. Returns the target's train and test accuracy.
    """
    import torch

    from toolkit.data.tml import layout_of, organisers_transform
    from toolkit.models import save_model
    from toolkit.references.runner import fit_model
    from toolkit.tml.references import default_train_config
    from toolkit.tracks import ShadowTraining, load_track
    from toolkit.training_tables import parse_augment

    track = track or load_track("resnet18")
    layout = layout_of(track)
    n_classes = n_classes or layout.n_classes
    if min(n_pub, n_priv) < 2 or n_classes > layout.n_classes:
        raise ConfigError(
            f"need ≥ 2 points per set and ≤ {layout.n_classes} classes; got {n_pub}, {n_priv}, {n_classes}"
        )
    folder, answers = Path(folder), Path(answers)
    if answers.resolve().is_relative_to(folder.resolve()):
        raise ConfigError(f"the answers file {answers} must lie outside the task folder {folder}")
    ids, labels, member = draw_task(np.random.default_rng(seed), n_pub, n_priv, n_classes, first_id=100_000)
    n = n_pub + n_priv
    rotated = "rot90" in parse_augment((track.shadow or ShadowTraining()).augment)  # no canonical orientation
    imgs = synthetic_task_images(labels, seed + 1, n_classes=n_classes, size=layout.files.image_size, symmetric=rotated)
    write_task_files(folder, ids, imgs, labels, member, n_pub, layout.files)
    buf = io.BytesIO()
    np.savez(buf, ids=ids[n_pub:], membership=member[n_pub:])
    atomic_write_bytes(answers, buf.getvalue())
    cfg = train_cfg or default_train_config(track.shadow or ShadowTraining(), seed)
    x = organisers_transform(imgs, layout.files)
    model = fit_model(track.architecture, layout.n_classes, x, labels, np.flatnonzero(member == 1), cfg, init_seed=seed)
    x, y = torch.from_numpy(x), torch.from_numpy(labels)
    save_model(model.cpu(), folder / (layout.files.model or "01_MIA.pt"))
    with torch.no_grad():
        pred = torch.cat([model(x[i : i + 512]).argmax(1) for i in range(0, n, 512)])
    correct = (pred == y).numpy()
    return {"train_acc": float(correct[member == 1].mean()), "test_acc": float(correct[member == 0].mean())}
