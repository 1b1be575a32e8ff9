"""Build ResNet18-task folders in the organisers' exact format (for tests).

The files are written by ``toolkit.tml.build.save_membership_dataset``: instances of look-alike
``__main__.MembershipDataset`` classes, exactly like the organisers' pickles.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import torch

from toolkit.tml.build import draw_task, write_task_files


def synthetic_images(labels: np.ndarray, seed: int, size: int = 32) -> np.ndarray:
    """Images in [0, 1] whose mean colour depends on the class (learnable), plus noise."""
    rng = np.random.default_rng(seed)
    colours = np.random.default_rng(1234).uniform(0.2, 0.8, size=(44, 3, 1, 1))
    x = colours[labels] + rng.normal(0, 0.15, size=(len(labels), 3, size, size))
    return np.clip(x, 0, 1).astype(np.float32)


def write_task(
    folder: Path,
    n_pub: int = 200,
    n_priv: int = 200,
    n_used: int = 4,
    seed: int = 0,
    train_epochs: int = 0,
    model_name: str | None = None,
    track: str = "resnet18",
) -> dict:
    """Write the ``track``'s edition into ``folder``: 2025 (``resnet18``) pub.pt, priv_out.pt and a 44-class
    resnet18 state dict (01_MIA.pt); 2026 (``tml26``) pub.pt, priv.pt (no membership field) with 3×28×28
    images and a 9-class CIFAR-stem resnet18 (model.pt).

    Half of each set are members. With ``train_epochs`` > 0 the target is trained on the members
    (so membership leaks); otherwise its weights are random. Returns the ground truth.
    """
    from toolkit.data.tml import layout_of, organisers_transform
    from toolkit.models import build_model
    from toolkit.models.training import TrainConfig, train_model
    from toolkit.tracks import load_track

    folder = Path(folder)
    the_track = load_track(track)
    layout = layout_of(the_track)
    model_name = model_name or layout.files.model or "01_MIA.pt"
    ids, labels, member = draw_task(np.random.default_rng(seed), n_pub, n_priv, n_used, first_id=10_000, id_span=3)
    imgs = synthetic_images(labels, seed + 1, layout.files.image_size)
    write_task_files(folder, ids, imgs, labels, member, n_pub, layout.files)
    torch.manual_seed(seed)
    model = build_model(the_track.architecture, layout.n_classes)
    if train_epochs:
        x = torch.from_numpy(organisers_transform(imgs, layout.files))
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
