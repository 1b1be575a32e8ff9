"""bf16 autocast training, and "auto" taking bf16 only where the probe shows it faster."""

from __future__ import annotations

import pytest
import torch

from toolkit.models import precision
from toolkit.models.precision import training_precision
from toolkit.models.training import TrainConfig, train_model


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(64, 3))


def _data(n: int = 16):
    gen = torch.Generator().manual_seed(0)
    return torch.randn(n, 3, 6, 6, generator=gen), torch.randint(0, 3, (n,), generator=gen)


def _conv_dtypes(model) -> list:
    """The dtype of every output of the model's first conv layer from now on."""
    seen = []
    model[0].register_forward_hook(lambda mod, inp, out: seen.append(out.dtype))
    return seen


def test_bf16_training_autocasts_and_keeps_finite_fp32_weights():
    model, (x, y) = _net(), _data()
    before = [p.detach().clone() for p in model.parameters()]
    seen = _conv_dtypes(model)
    train_model(model, x, y, TrainConfig(epochs=2, batch_size=8, lr=0.05, precision="bf16"))
    assert seen and set(seen) == {torch.bfloat16}
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last)
    for p, p0 in zip(model.parameters(), before):
        assert p.dtype == torch.float32 and torch.isfinite(p).all() and not torch.equal(p, p0)


@pytest.fixture
def probe(monkeypatch):
    """A fake probe returning ``seconds`` (set by the test), counting its calls, on a device said to have bf16."""
    fake = {"calls": 0, "seconds": None}

    def timed(model, x, cfg):
        fake["calls"] += 1
        return dict(fake["seconds"])

    monkeypatch.setattr(precision, "_probe", timed)
    monkeypatch.setattr(precision, "_PROBES", {})
    monkeypatch.setattr(precision, "bf16_supported", lambda device: True)
    return fake


@pytest.mark.parametrize("bf16, choice", [(1.2, "fp32"), (0.95, "fp32"), (0.9, "bf16")])
def test_auto_takes_bf16_only_where_it_is_ten_percent_faster(probe, bf16, choice):
    seconds = {"fp32": 1.0, "bf16": bf16}
    probe["seconds"] = seconds
    assert training_precision(_net(), _data()[0], TrainConfig(precision="auto")) == (choice, seconds)


def test_auto_takes_bf16_where_faster_once_per_shape_and_trains_in_it(probe):
    probe["seconds"] = {"fp32": 1.0, "bf16": 0.5}
    model, (x, y) = _net(), _data()
    cfg = TrainConfig(epochs=1, batch_size=8, precision="auto")
    assert training_precision(model, x, cfg) == ("bf16", probe["seconds"])
    seen = _conv_dtypes(model)
    train_model(model, x, y, cfg)
    assert set(seen) == {torch.bfloat16} and probe["calls"] == 1  # memoised: the run reused the probe
    training_precision(model, x, TrainConfig(batch_size=4, precision="auto"))
    assert probe["calls"] == 2  # another batch size is another probe


def test_auto_is_fp32_for_dp_sgd_and_fixed_choices_skip_the_probe(probe):
    x = _data()[0]
    assert training_precision(_net(), x, TrainConfig(precision="auto", epsilon=8.0)) == ("fp32", {})
    assert training_precision(_net(), x, TrainConfig(precision="bf16")) == ("bf16", {})
    assert probe["calls"] == 0


def test_the_real_probe_times_both_and_leaves_the_model_and_random_stream_alone():
    model, x = _net(), _data()[0]
    weights = [p.detach().clone() for p in model.parameters()]
    torch.manual_seed(7)
    seconds = precision._probe(model, x, TrainConfig(batch_size=8, lr=0.1))
    assert set(seconds) == {"fp32", "bf16"} and all(s > 0 for s in seconds.values())
    assert all(torch.equal(p, w) for p, w in zip(model.parameters(), weights))
    after = torch.rand(3)
    torch.manual_seed(7)
    assert torch.equal(after, torch.rand(3))
