"""``train_model``'s recipe options: Nesterov, learning-rate schedules, label smoothing, and the checks on them."""

from __future__ import annotations

import math

import pytest
import torch

from toolkit.errors import ConfigError
from toolkit.models import training
from toolkit.models.training import TrainConfig, _clipped_sums_linear, train_model
from toolkit.references.folder import training_key, training_record
from toolkit.training_tables import References

_MAKE_OPTIMIZER = training._optimizer


def _data(n: int = 12, features: int = 4, classes: int = 3):
    gen = torch.Generator().manual_seed(0)
    return torch.randn(n, features, generator=gen), torch.randint(0, classes, (n,), generator=gen)


def _optimizers(monkeypatch) -> list:
    """Every optimiser train_model makes from now on, each recording the lr of every step it takes."""
    made = []

    def spy(params, cfg):
        opt = _MAKE_OPTIMIZER(params, cfg)
        opt.lrs = []
        opt.register_step_pre_hook(lambda o, args, kwargs: o.lrs.append(o.param_groups[0]["lr"]))
        made.append(opt)
        return opt

    monkeypatch.setattr(training, "_optimizer", spy)
    return made


def _lrs(monkeypatch, **recipe) -> list[float]:
    """The learning rate of each optimiser step of a tiny run (12 rows, batch 4: 3 steps an epoch)."""
    made = _optimizers(monkeypatch)
    x, y = _data()
    train_model(torch.nn.Linear(4, 3), x, y, TrainConfig(batch_size=4, **recipe))
    return made[0].lrs


def test_nesterov_reaches_the_optimizer(monkeypatch):
    made = _optimizers(monkeypatch)
    x, y = _data()
    train_model(torch.nn.Linear(4, 3), x, y, TrainConfig(epochs=1, nesterov=True))
    assert made[0].defaults["nesterov"] is True and made[0].defaults["momentum"] == 0.9
    train_model(torch.nn.Linear(4, 3), x, y, TrainConfig(epochs=1))
    assert made[1].defaults["nesterov"] is False


def test_step_schedule_changes_the_rate_at_epoch_boundaries(monkeypatch):
    lrs = _lrs(monkeypatch, epochs=3, lr=0.8, lr_step=1, lr_gamma=0.5)
    assert lrs == [0.8] * 3 + [0.4] * 3 + [0.2] * 3
    assert _lrs(monkeypatch, epochs=2, lr=0.8) == [0.8] * 6  # lr_step 0: constant


def test_cosine_starts_at_lr_and_ends_near_zero(monkeypatch):
    lrs = _lrs(monkeypatch, epochs=4, lr=0.2, schedule="cosine")  # 12 steps
    assert len(lrs) == 12 and lrs[0] == pytest.approx(0.2)
    assert lrs == pytest.approx([0.2 * (1 + math.cos(math.pi * t / 12)) / 2 for t in range(12)])
    assert lrs[-1] < 0.01 * 0.2 * 2  # (1 + cos(11π/12))/2 = 0.017


def test_onecycle_peaks_at_lr(monkeypatch):
    lrs = _lrs(monkeypatch, epochs=10, lr=0.3, schedule="onecycle")  # 30 steps, warm-up over the first 30%
    assert len(lrs) == 30 and max(lrs) == pytest.approx(0.3)
    assert lrs.index(max(lrs)) == 8  # step 0.3·30 − 1
    assert lrs[0] == pytest.approx(0.3 / 25) and lrs[-1] < 0.3 / 1000


def test_dp_sgd_steps_its_schedule_every_poisson_step(monkeypatch):
    pytest.importorskip("opacus")
    made = _optimizers(monkeypatch)
    x, y = _data()
    cfg = TrainConfig(epochs=2, batch_size=4, lr=0.2, epsilon=8.0, schedule="onecycle", label_smoothing=0.1)
    model = train_model(torch.nn.Linear(4, 3), x, y, cfg)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert len(made[0].lrs) == 6 and max(made[0].lrs) == pytest.approx(0.2, rel=0.2)  # ceil(2 / (4/12)) steps
    assert made[0].param_groups[0]["momentum"] == 0  # DP-SGD's plain SGD: onecycle cycles no momentum into it


def _smoothing_fixture():
    """Zero weights (logits 0, softmax ½, ½) on x = I₂ with labels (0, 1)."""
    model = torch.nn.Linear(2, 2, bias=False)
    torch.nn.init.zeros_(model.weight)
    return model, torch.eye(2), torch.tensor([0, 1])


@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_label_smoothing_moves_the_target_as_the_formula_says(eps):
    # target (1 − ε/2, ε/2) for label 0; ∂mean-loss/∂logits = (p − t)/2 = ∓(1 − ε)/4; W ← −lr·grad
    model, x, y = _smoothing_fixture()
    cfg = TrainConfig(epochs=1, batch_size=2, lr=1.0, momentum=0.0, order="fixed", label_smoothing=eps)
    train_model(model, x, y, cfg)
    step = (1 - eps) / 4
    torch.testing.assert_close(model.weight.detach(), torch.tensor([[step, -step], [-step, step]]))


def test_dp_clipped_sums_carry_label_smoothing():
    model, x, y = _smoothing_fixture()  # per-sample gradient norm (1 − ε)/√2 < clip: nothing clipped
    sums = _clipped_sums_linear(model, [model], x, y, clip=10.0, smoothing=0.2)
    torch.testing.assert_close(sums[model.weight], torch.tensor([[-0.4, 0.4], [0.4, -0.4]]))


@pytest.mark.parametrize(
    "bad, words",
    [
        ({"schedule": "linear"}, "schedule 'linear'"),
        ({"precision": "fp16"}, "precision 'fp16'"),
        ({"augment": "flip,crop"}, "'crop'"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
        ({"label_smoothing": "0.1"}, "label_smoothing"),
        ({"nesterov": True, "optimizer": "adam"}, "nesterov"),
        ({"nesterov": True, "epsilon": 8.0}, "nesterov"),
        ({"precision": "bf16", "epsilon": 8.0}, "bf16"),
    ],
)
def test_a_recipe_the_trainer_cannot_run_is_one_line(bad, words):
    with pytest.raises(ConfigError) as err:
        TrainConfig(**bad)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_new_fields_at_their_defaults_and_precision_leave_the_folder_hashes_alone():
    from toolkit.mico.references import _training_record

    first = {"epochs", "batch_size", "lr", "optimizer", "weight_decay", "epsilon", "delta", "clip"}
    shadow_train = training_record(TrainConfig(), "resnet18_44", 44, 0, None, 10)["train"]
    assert set(shadow_train) == first  # the first shadow folders'
    before = first | {"momentum", "lr_step", "lr_gamma", "order", "accountant"}  # reference folders before nesterov…
    assert set(_training_record(References(), TrainConfig(), "mico_mlp")["train"]) == before
    assert _training_record(References(), TrainConfig(precision="bf16"), "mico_cnn") == _training_record(
        References(), TrainConfig(), "mico_cnn"
    )
    key = training_key(TrainConfig())
    assert training_key(TrainConfig(precision="auto")) == training_key(TrainConfig(precision="bf16")) == key
    for changed in ({"nesterov": True}, {"schedule": "cosine"}, {"label_smoothing": 0.1}, {"augment": "flip"}):
        assert training_key(TrainConfig(**changed)) != key


def test_folder_names_are_those_folders_on_disk_already_have():
    """The hashes that name shadow and reference folders, pinned: a change would orphan every trained folder."""
    import json

    from toolkit.io import sha256_bytes
    from toolkit.mico.references import _training_record
    from toolkit.references.training import train_config

    assert training_key(TrainConfig()) == "b254b5e330"
    cfg = TrainConfig(epochs=3, augment="flip", nesterov=True, precision="auto")
    assert training_key(cfg, "resnet18_cifar", "pub", 4) == "bd2bced37f"
    record = _training_record(References(), train_config(References(), epsilon=8.0), "mico_mlp")
    assert sha256_bytes(json.dumps(record, sort_keys=True).encode())[:16] == "f13353aa63d47bec"


def test_references_pass_their_precision_and_dp_trains_in_fp32():
    refs = References(precision="bf16")
    assert TrainConfig(**refs.training(math.inf)).precision == "bf16"
    assert TrainConfig(**refs.training(8.0)).precision == "fp32"
    assert References(precision="auto").training(8.0)["precision"] == "auto"  # auto: fp32 for DP-SGD itself
