"""The MICO architectures: exact state-dict keys and sizes, Opacus prefixes, RoBERTa loading."""

from __future__ import annotations

import pytest
import torch
from mico_fixtures import write_weights

from toolkit.errors import ConfigError, ModelError
from toolkit.models import build_model, load_model
from toolkit.models.mico import CNN_PARAMETERS


def test_cnn_matches_the_organisers_layout():
    model = build_model("mico_cnn", 10)
    keys = sorted(model.state_dict())
    assert keys == sorted(f"cnn.{i}.{p}" for i in (0, 3, 5, 9) for p in ("weight", "bias"))
    assert sum(p.numel() for p in model.parameters()) == CNN_PARAMETERS == 973_962
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_mlp_matches_the_organisers_layout():
    model = build_model("mico_mlp", 100)
    assert sorted(model.state_dict()) == ["mlp.0.bias", "mlp.0.weight", "mlp.2.bias", "mlp.2.weight"]
    assert model.state_dict()["mlp.0.weight"].shape == (128, 600)
    assert model(torch.zeros(3, 600)).shape == (3, 100)


@pytest.mark.parametrize("arch,n_classes,shape", [("mico_cnn", 10, (4, 3, 32, 32)), ("mico_mlp", 100, (4, 600))])
@pytest.mark.parametrize("prefix", ["", "_module."])
def test_weights_load_with_and_without_opacus_prefix(tmp_path, arch, n_classes, shape, prefix):
    write_weights(tmp_path, arch, n_classes, seed=3, prefix=prefix)
    model = load_model(arch, tmp_path / "model.pt", n_classes)
    torch.manual_seed(3)
    ref = build_model(arch, n_classes).eval()
    x = torch.randn(shape)
    with torch.inference_mode():
        assert torch.allclose(model(x), ref(x))


def test_wrong_architecture_is_a_model_error(tmp_path):
    write_weights(tmp_path, "mico_mlp", 100, seed=0)
    with pytest.raises(ModelError, match="does not fit"):
        load_model("mico_cnn", tmp_path / "model.pt", 10)


def test_roberta_without_transformers_says_which_extra(monkeypatch):
    import builtins

    real = builtins.__import__

    def fake(name, *args, **kwargs):
        if name == "transformers" or name.startswith("transformers."):
            raise ModuleNotFoundError("No module named 'transformers'", name="transformers")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(ConfigError, match=r"pip install -e '\.\[sst2\]'"):
        build_model("roberta_sst2", 2)


@pytest.mark.parametrize("prefix", ["", "_module."])
def test_roberta_loads_from_shapes_and_from_config(tmp_path, prefix):
    pytest.importorskip("transformers")
    from toolkit.models.roberta import load_roberta

    write_weights(tmp_path, "roberta_sst2", 2, seed=1, prefix=prefix)
    by_shapes = load_model("roberta_sst2", tmp_path / "pytorch_model.bin", 2)
    by_config = load_roberta(tmp_path)
    ids = torch.randint(4, 200, (3, 67))
    ids[0, 20:] = 1  # padding
    with torch.inference_mode():
        a, b = by_shapes(ids), by_config(ids)
    assert a.shape == (3, 2) and torch.allclose(a, b, atol=1e-5)
    with torch.inference_mode():  # the pads are masked: same logits as the unpadded sentence
        short = by_config.net(input_ids=ids[:1, :20]).logits
    assert torch.allclose(a[:1], short, atol=1e-5)


def test_roberta_rejects_a_wrong_label_count(tmp_path):
    pytest.importorskip("transformers")
    write_weights(tmp_path, "roberta_sst2", 2, seed=1)
    with pytest.raises(ModelError):
        load_model("roberta_sst2", tmp_path / "pytorch_model.bin", 3)
