"""Shadow models through the one runner: LiRA-balanced keep masks and resumable training of the real resnet18_44."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from fixtures_tml import one_thread

from toolkit.errors import ConfigError
from toolkit.models.training import TrainConfig
from toolkit.references.plan import balanced_keep, paired_keep
from toolkit.references.runner import _pairs_within, load_keep, shadow_paths, train_shadows


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
    fp32 = {"precision": "fp32", "probe_seconds": {}}
    assert json.loads((tmp_path / "precision.json").read_text()) == {"shadow_000.pt": fp32, "shadow_001.pt": fp32}


def test_the_precision_each_shadow_used_is_recorded_and_not_part_of_the_recipe(tmp_path, monkeypatch):
    from toolkit.models import precision

    monkeypatch.setattr(precision, "_PROBES", {})
    monkeypatch.setattr(precision, "bf16_supported", lambda device: True)
    monkeypatch.setattr(precision, "_probe", lambda model, x, cfg: {"fp32": 2.0, "bf16": 1.0})
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 64)).astype(np.float32), rng.integers(0, 10, 16)
    cfg = TrainConfig(epochs=1, batch_size=8, lr=0.01, precision="auto")
    train_shadows(tmp_path, x, y, 2, cfg, architecture="demo_mlp", n_classes=10, progress=False)
    used = {"precision": "bf16", "probe_seconds": {"fp32": 2.0, "bf16": 1.0}}
    assert json.loads((tmp_path / "precision.json").read_text()) == {"shadow_000.pt": used, "shadow_001.pt": used}
    fp32 = replace(cfg, precision="fp32")  # the same recipe: the folder takes more models in fp32
    paths, _ = train_shadows(tmp_path, x, y, 4, fp32, architecture="demo_mlp", n_classes=10, progress=False)
    assert (
        len(paths) == 4
        and json.loads((tmp_path / "precision.json").read_text())["shadow_003.pt"]["precision"] == "fp32"
    )


def test_paired_keep_is_balanced_at_every_even_prefix():
    pool = np.arange(0, 41, 2)  # 21 points: odd, so each split gives one side a point more
    keep = paired_keep(8, 41, seed=4, pool=pool)
    for n in (2, 4, 6, 8):
        np.testing.assert_array_equal(keep[:n][:, pool].sum(0), n // 2)
        np.testing.assert_array_equal(paired_keep(n, 41, seed=4, pool=pool), keep[:n])  # a prefix of a larger count
    assert not keep[:, 1::2].any()
    np.testing.assert_array_equal(keep[0] ^ keep[1], np.isin(np.arange(41), pool))
    assert not np.array_equal(keep[0], keep[2]) and not np.array_equal(keep, paired_keep(8, 41, seed=5, pool=pool))


@pytest.mark.parametrize(
    "seconds,budget,pairs",
    [
        ({}, 0.0, 1),  # nothing measured yet: one pair, to measure it
        ({"shadow_000.pt": 10.0, "shadow_001.pt": 10.0}, 0.0, 1),  # at least one pair
        ({"shadow_000.pt": 10.0, "shadow_001.pt": 10.0}, 39.9, 1),  # pair 1 at the mean (20) would reach 40
        ({"shadow_000.pt": 10.0, "shadow_001.pt": 10.0}, 40.0, 2),
        ({"shadow_000.pt": 10.0, "shadow_001.pt": 30.0}, 100.0, 2),  # 40 + 40 + 40 > 100
        ({f"shadow_{i:03d}.pt": 1.0 for i in range(8)}, 1e9, 4),  # never beyond the count asked for
    ],
)
def test_pairs_within_budget_by_hand(tmp_path, seconds, budget, pairs):
    assert _pairs_within(shadow_paths(tmp_path, 8), seconds, budget) == pairs


@pytest.mark.parametrize("estimate,pairs", [(6.0, 0), (5.0, 1), (4.0, 1), (2.5, 2), (1.0, 4)])
def test_a_probe_estimate_keeps_even_the_first_pair_within_budget(tmp_path, estimate, pairs):
    """Nothing recorded: a probe's seconds per model stand for every model; budget 10 holds 10 / (2 × estimate)."""
    assert _pairs_within(shadow_paths(tmp_path, 8), {}, 10.0, estimate) == pairs


@pytest.mark.slow
def test_budget_grows_a_folder_and_keeps_its_models(tmp_path):
    import json

    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 44, 12)
    cfg = TrainConfig(epochs=1, batch_size=8, lr=0.01)
    assert train_shadows(tmp_path, x, y, 8, cfg, budget_s=0.0, progress=False)[0] == []  # the probe: none fits
    paths, keep = train_shadows(tmp_path, x, y, 2, cfg, progress=False)
    assert len(paths) == 2 and keep.shape == (2, 12)
    assert set(json.loads((tmp_path / "seconds.json").read_text())) == {"shadow_000.pt", "shadow_001.pt"}
    stamp = paths[0].stat().st_mtime_ns
    (tmp_path / "seconds.json").write_text('{"shadow_000.pt": 5.0, "shadow_001.pt": 5.0}')
    paths, _ = train_shadows(tmp_path, x, y, 8, cfg, budget_s=19.0, progress=False)  # a second pair would cost 20
    assert len(paths) == 2 and not shadow_paths(tmp_path, 3)[2].exists()
    paths, keep = train_shadows(tmp_path, x, y, 8, cfg, budget_s=20.0, progress=False)
    assert len(paths) >= 4 and paths[0].stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(keep, paired_keep(len(paths), 12))
    np.testing.assert_array_equal(load_keep(tmp_path)[: len(paths)], keep)
    with pytest.raises(ConfigError, match="recipe differs in train"):
        train_shadows(tmp_path, x, y, 2, TrainConfig(epochs=2, batch_size=8, lr=0.01), progress=False)
