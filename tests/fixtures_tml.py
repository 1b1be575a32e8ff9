"""Build ResNet18-task folders in the organisers' exact format (for tests).

The organisers pickled instances of classes defined in their ``__main__``; we define look-alike
classes whose ``__module__`` is ``__main__`` and register them there only while ``torch.save``
runs, so the files hold ``__main__.MembershipDataset`` exactly like theirs.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import numpy as np
import torch


def _organiser_classes():
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
    task, member = _organiser_classes()
    obj = member()
    obj.ids = [int(i) for i in ids]
    obj.imgs = [torch.as_tensor(x, dtype=torch.float32).clone() for x in imgs]
    obj.labels = [int(y) for y in labels]
    obj.membership = [None if m is None else int(m) for m in membership]
    with _in_main(task, member):
        torch.save(obj, path)


def synthetic_images(labels: np.ndarray, seed: int) -> np.ndarray:
    """Images in [0, 1] whose mean colour depends on the class (learnable), plus noise."""
    rng = np.random.default_rng(seed)
    colours = np.random.default_rng(1234).uniform(0.2, 0.8, size=(44, 3, 1, 1))
    x = colours[labels] + rng.normal(0, 0.15, size=(len(labels), 3, 32, 32))
    return np.clip(x, 0, 1).astype(np.float32)


def write_task(
    folder: Path,
    n_pub: int = 200,
    n_priv: int = 200,
    n_used: int = 4,
    seed: int = 0,
    train_epochs: int = 0,
    model_name: str = "01_MIA.pt",
) -> dict:
    """Write pub.pt, priv_out.pt and a 44-class resnet18 state dict into ``folder``.

    Half of each set are members. With ``train_epochs`` > 0 the target is trained on the members
    (so membership leaks); otherwise its weights are random. Returns the ground truth.
    """
    from toolkit.models import build_model
    from toolkit.models.training import TrainConfig, train_model

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n = n_pub + n_priv
    ids = rng.permutation(np.arange(10_000, 10_000 + 3 * n))[:n]
    labels = rng.integers(0, n_used, n)
    member = np.zeros(n, dtype=np.int64)
    member[rng.permutation(n_pub)[: n_pub // 2]] = 1
    member[n_pub + rng.permutation(n_priv)[: n_priv // 2]] = 1
    imgs = synthetic_images(labels, seed + 1)
    save_membership_dataset(folder / "pub.pt", ids[:n_pub], imgs[:n_pub], labels[:n_pub], member[:n_pub])
    save_membership_dataset(folder / "priv_out.pt", ids[n_pub:], imgs[n_pub:], labels[n_pub:], [None] * n_priv)
    torch.manual_seed(seed)
    model = build_model("resnet18_44", 44)
    if train_epochs:
        from toolkit.data.tml import MEAN, STD

        x = (torch.from_numpy(imgs) - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
        sel = torch.from_numpy(member == 1)
        train_model(
            model,
            x[sel],
            torch.from_numpy(labels)[sel],
            TrainConfig(epochs=train_epochs, batch_size=32, lr=0.01, optimizer="adam", seed=seed),
        )
    torch.save(model.state_dict(), folder / model_name)
    return {"ids": ids, "labels": labels, "membership": member, "images": imgs, "n_pub": n_pub}


class _Evil:
    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def __reduce__(self):
        return (self.fn, (self.arg,))


def write_malicious(path: Path, fn, arg) -> None:
    """A torch.save file whose unpickling would call ``fn(arg)`` (e.g. os.system, eval)."""
    torch.save({"payload": _Evil(fn, arg)}, path)


@contextlib.contextmanager
def one_thread():
    """Run torch on one thread: the CI box has 2 shared cores and oversubscription is 10× slower."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)
