"""Training several MLPs per step (``toolkit.models.group``) gives what ``train_model`` gives, model by model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from toolkit.errors import ConfigError
from toolkit.models import build_model, group
from toolkit.models.group import _clipped_sums_stacked, _stack, can_group, train_group
from toolkit.models.training import TrainConfig, _clipped_sums_vmap, train_model

SEEDS = [3, 11, 42]


def _population(rows: int = 160, features: int = 64, classes: int = 10):
    rng = np.random.default_rng(0)
    x = (rng.random((rows, features)) < 0.3).astype(np.float32)
    y = rng.integers(0, classes, rows)
    sets = [rng.permutation(rows)[:96].astype(np.int64) for _ in SEEDS]  # overlapping, each in its own order
    return x, y, sets


@pytest.mark.parametrize(
    "cfg",
    [
        TrainConfig(epochs=3, batch_size=20, lr=0.05, optimizer="sgd", weight_decay=1e-3, lr_step=1, lr_gamma=0.5),
        TrainConfig(epochs=3, batch_size=20, lr=1e-3, optimizer="adam", lr_step=2, lr_gamma=0.9),
    ],
    ids=["sgd", "adam"],
)
@pytest.mark.parametrize("order", ["fixed", "shuffle"])
def test_each_model_is_the_one_train_model_trains(cfg, order):
    _check_each_model(replace(cfg, order=order))  # 96 rows, batch 20: the last batch of each epoch is smaller


@pytest.mark.parametrize(
    "cfg",
    [
        TrainConfig(epochs=3, batch_size=20, lr=0.05, nesterov=True, schedule="cosine", label_smoothing=0.1),
        TrainConfig(epochs=3, batch_size=20, lr=1e-3, optimizer="adam", schedule="onecycle"),
    ],
    ids=["nesterov-cosine-smoothing", "adam-onecycle"],
)
def test_schedules_nesterov_and_label_smoothing_are_train_models(cfg):
    _check_each_model(cfg)


def _check_each_model(cfg):
    x, y, sets = _population()
    grouped = train_group("demo_mlp", 10, x, y, sets, cfg, SEEDS)
    assert len(grouped) == len(SEEDS)
    for model, rows, seed in zip(grouped, sets, SEEDS):
        alone = build_model("demo_mlp", 10, seed=seed)
        start = {k: v.clone() for k, v in alone.state_dict().items()}
        train_model(alone, torch.from_numpy(x[rows]), torch.from_numpy(y[rows]), replace(cfg, seed=seed))
        got, want = model.state_dict(), alone.state_dict()
        assert not model.training and list(got) == list(want)
        assert any(not torch.equal(want[k], start[k]) for k in want)  # it trained
        for key in want:
            assert got[key].shape == want[key].shape and got[key].device.type == "cpu"
            torch.testing.assert_close(got[key], want[key], rtol=1e-4, atol=1e-5)


def test_mico_mlp_keys_and_shapes():
    rng = np.random.default_rng(1)
    x, y = (rng.random((40, 600)) < 0.3).astype(np.float32), rng.integers(0, 100, 40)
    (model,) = train_group("mico_mlp", 100, x, y, [np.arange(32)], TrainConfig(epochs=1, batch_size=16), [0])
    want = build_model("mico_mlp", 100).state_dict()
    assert {k: v.shape for k, v in model.state_dict().items()} == {k: v.shape for k, v in want.items()}


@pytest.mark.parametrize("clip", [0.05, 1.0, 100.0])  # every sample clipped, some, none
def test_batched_clipped_sums_equal_per_sample_clipping(clip):
    torch.manual_seed(0)
    models = [torch.nn.Sequential(torch.nn.Linear(7, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3)) for _ in range(3)]
    x, y = torch.randn(3, 6, 7), torch.randint(0, 3, (3, 6))
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 0, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0]], dtype=torch.float32)
    sums = _clipped_sums_stacked(_stack(models, "cpu"), x, y, mask, clip)
    for k, model in enumerate(models):
        keep = mask[k].bool()
        want = _clipped_sums_vmap(model, x[k][keep], y[k][keep], clip)
        for p, got in zip(model.parameters(), sums):
            torch.testing.assert_close(got[k], want[p], rtol=1e-5, atol=1e-6)


def test_dp_run_trains_every_model():
    x, y, sets = _population()
    cfg = TrainConfig(epochs=2, batch_size=16, lr=0.1, epsilon=8.0, clip=1.0, lr_step=1, lr_gamma=0.5)
    models = train_group("demo_mlp", 10, x, y, sets, cfg, SEEDS)
    for model, seed in zip(models, SEEDS):
        start = build_model("demo_mlp", 10, seed=seed).state_dict()
        state = model.state_dict()
        assert all(torch.isfinite(v).all() for v in state.values())
        assert all(not torch.equal(state[k], start[k]) for k in start)
    first, second = (m.state_dict()["mlp.0.weight"] for m in models[:2])
    assert not torch.equal(first, second)


def test_dp_sgd_is_train_models_given_the_same_random_draws(monkeypatch):
    """With train_model's own draws (n uniforms per step, noise per parameter), a model is the one it trains."""

    def bernoulli_rows(n, q, gen):
        return (torch.rand(n, generator=gen) < q).nonzero().squeeze(1)

    def noise_per_parameter(stack, gens, std):
        draws = [[torch.normal(0.0, std, p[0].shape, generator=g) for p in stack.params()] for g in gens]
        return [torch.stack([d[i] for d in draws]) for i in range(len(stack.params()))]

    monkeypatch.setattr(group, "_poisson_rows", bernoulli_rows)
    monkeypatch.setattr(group, "_noise", noise_per_parameter)
    x, y, sets = _population()
    cfg = TrainConfig(
        epochs=2, batch_size=16, lr=3e-3, optimizer="adam", epsilon=8.0, clip=0.5, lr_step=1, lr_gamma=0.5
    )
    grouped = train_group("demo_mlp", 10, x, y, sets, cfg, SEEDS)
    for model, rows, seed in zip(grouped, sets, SEEDS):
        alone = build_model("demo_mlp", 10, seed=seed)
        train_model(alone, torch.from_numpy(x[rows]), torch.from_numpy(y[rows]), replace(cfg, seed=seed))
        for key, want in alone.state_dict().items():
            torch.testing.assert_close(model.state_dict()[key], want, rtol=1e-4, atol=1e-5)


def test_training_sets_of_unequal_size_are_refused():
    x, y, sets = _population()
    with pytest.raises(ConfigError, match="equal"):
        train_group("demo_mlp", 10, x, y, [sets[0], sets[1][:-1]], TrainConfig(epochs=1), SEEDS[:2])


def test_only_stacks_of_linear_layers_are_grouped():
    assert can_group("mico_mlp") and can_group("demo_mlp")
    assert not can_group("mico_cnn")


class _Chain(torch.nn.Module):
    """Linear–Tanh–Linear whose forward() may do more than chain the layers (``twist``)."""

    def __init__(self, n_classes: int, twist: bool):
        super().__init__()
        self.mlp = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.Tanh(), torch.nn.Linear(4, n_classes))
        self.twist = twist

    def forward(self, x):
        return self.mlp(x) * (2.0 if self.twist else 1.0)


@pytest.mark.parametrize("twist", [False, True])
def test_a_forward_that_is_not_the_chain_is_not_grouped(monkeypatch, twist):
    monkeypatch.setattr(group, "build_model", lambda arch, n_classes, seed=None: _Chain(n_classes, twist))
    can_group.cache_clear()
    try:
        assert can_group("chain_under_test") is not twist
    finally:
        can_group.cache_clear()
