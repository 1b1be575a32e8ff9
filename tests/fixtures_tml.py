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
    ids, labels, member = draw_task(np.random.default_rng(seed), n_pub, n_priv, n_used, first_id=10_000, id_span=3)
    imgs = synthetic_images(labels, seed + 1)
    write_task_files(folder, ids, imgs, labels, member, n_pub)
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
