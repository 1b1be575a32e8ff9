"""Shadow models: LiRA-balanced keep masks and resumable training of the real resnet18_44."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_tml import one_thread

from toolkit.errors import ConfigError
from toolkit.models.shadow import balanced_keep, load_keep, shadow_paths, train_shadows
from toolkit.models.training import TrainConfig


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with one_thread():
        yield


def test_every_pool_point_is_in_for_exactly_half():
    pool = np.arange(0, 50, 2)
    keep = balanced_keep(6, 50, seed=1, pool=pool)
    assert keep.dtype == bool and keep.shape == (6, 50)
    np.testing.assert_array_equal(keep[:, pool].sum(0), 3)
    assert not keep[:, 1::2].any()
    np.testing.assert_array_equal(keep, balanced_keep(6, 50, seed=1, pool=pool))
    assert not np.array_equal(keep, balanced_keep(6, 50, seed=2, pool=pool))
    # each model still gets about half the pool
    assert (np.abs(keep[:, pool].sum(1) - 12.5) < 8).all()


@pytest.mark.parametrize("n", [0, 1, 3])
def test_odd_or_too_few_models_rejected(n):
    with pytest.raises(ConfigError, match="even"):
        balanced_keep(n, 10)


@pytest.mark.slow
def test_training_is_resumable_and_keep_is_checked(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 44, 16)
    cfg = TrainConfig(epochs=1, batch_size=8, lr=0.01)
    paths, keep = train_shadows(tmp_path, x, y, 2, cfg, progress=False)
    assert paths == shadow_paths(tmp_path, 2) and all(p.exists() for p in paths)
    np.testing.assert_array_equal(load_keep(tmp_path), keep)
    first = paths[0].stat().st_mtime_ns
    paths[1].unlink()
    train_shadows(tmp_path, x, y, 2, cfg, progress=False)
    assert paths[0].stat().st_mtime_ns == first and paths[1].exists()
    import torch

    from toolkit.models import load_model

    model = load_model("resnet18_44", paths[1], 44)  # the retrained shadow reloads with the weights it saved
    saved = torch.load(paths[1], weights_only=True)
    assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())
    with torch.no_grad():
        assert model(torch.from_numpy(x[:2])).shape == (2, 44)
    with pytest.raises(ConfigError, match="another run"):
        train_shadows(tmp_path, x, y, 2, cfg, seed=5, progress=False)
