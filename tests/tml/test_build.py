"""The practice task builder writes the organisers' files and keeps the private answers apart."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_tml import one_thread

from toolkit.data.tml import load_task
from toolkit.errors import ConfigError
from toolkit.models.training import TrainConfig
from toolkit.tml.build import build_task, synthetic_task_images


@pytest.mark.slow
def test_build_task_round_trips_through_the_loader(tmp_path):
    with one_thread():
        acc = build_task(
            tmp_path / "task", tmp_path / "answers.npz", n_pub=40, n_priv=30, seed=3,
            train_cfg=TrainConfig(epochs=1, batch_size=16, lr=0.01),
        )  # fmt: skip
    task = load_task(tmp_path / "task")
    assert len(task.pub) == 40 and len(task.priv) == 30 and task.model_path.name == "01_MIA.pt"
    assert (task.pub.membership == 1).sum() == 20 and (task.priv.membership == -1).all()
    with np.load(tmp_path / "answers.npz") as a:
        np.testing.assert_array_equal(a["ids"], task.priv.ids)
        assert a["membership"].sum() == 15
    assert not np.intersect1d(task.pub.ids, task.priv.ids).size
    assert 0.0 <= acc["test_acc"] <= 1.0 and 0.0 <= acc["train_acc"] <= 1.0
    with pytest.raises(ConfigError, match="outside the task folder"):
        build_task(tmp_path / "t2", tmp_path / "t2" / "answers.npz", n_pub=4, n_priv=4)


def test_synthetic_images_are_seeded_and_in_range():
    labels = np.array([0, 1, 2, 43] * 5)
    a, b = synthetic_task_images(labels, 1), synthetic_task_images(labels, 1)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (20, 3, 32, 32) and a.dtype == np.float32 and 0.0 <= a.min() and a.max() <= 1.0
    assert not np.array_equal(a, synthetic_task_images(labels, 2))
    # the class is learnable: nearest class mean (fitted on half) labels the other half far above chance (1/4)
    y = np.repeat([0, 1, 2, 3], 200)
    x = synthetic_task_images(y, 1).reshape(len(y), -1)
    fit = np.tile(np.r_[np.ones(100, bool), np.zeros(100, bool)], 4)
    means = np.stack([x[fit & (y == k)].mean(0) for k in range(4)])
    pred = np.argmin(((x[~fit][:, None] - means[None]) ** 2).sum(-1), axis=1)
    assert (pred == y[~fit]).mean() > 0.6


def test_symmetric_prototypes_keep_their_class_under_rotations_and_mirrors():
    """Tiles with no canonical orientation: each class prototype is its own rotations' and mirrors' mean."""
    from toolkit.tml.build import prototypes

    sym = prototypes(4, 28, symmetric=True)
    np.testing.assert_allclose(sym, np.rot90(sym, 1, axes=(2, 3)), atol=1e-5)
    np.testing.assert_allclose(sym, sym[..., ::-1], atol=1e-5)
    plain = prototypes(4, 28)
    assert np.abs(plain - np.rot90(plain, 1, axes=(2, 3))).max() > 0.1
    x = synthetic_task_images(np.arange(4), 1, n_classes=4, size=28, symmetric=True)
    assert x.shape == (4, 3, 28, 28) and 0 <= x.min() and x.max() <= 1
