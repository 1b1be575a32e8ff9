import numpy as np
import pytest
import torch
from click.testing import CliRunner

from toolkit.cli import cli
from toolkit.data import load_population
from toolkit.errors import DataError
from toolkit.models import build_model, save_model
from toolkit.models.training import TrainConfig, train_model
from toolkit.studies.unlearning import audit_unlearning, load_split, model_logits


def _splits():
    pop = load_population("demo")
    order = np.random.default_rng(0).permutation(len(pop))
    parts = {"retain": order[:300], "forget": order[300:400], "holdout": order[400:1000]}
    out = {k: (pop.inputs[v].astype(np.float32), pop.labels[v]) for k, v in parts.items()}
    # the forget set is mislabelled data (the usual reason to unlearn): only memorisation fits it.
    # The holdout must be exchangeable with the forget set (points of the same kind, never trained
    # on), so it is mislabelled the same way: then a forgotten set reads exactly like holdout.
    for k in ("forget", "holdout"):
        out[k] = (out[k][0], (out[k][1] + 1) % 10)
    return out


def _train(x, y):
    torch.manual_seed(0)
    cfg = TrainConfig(epochs=150, batch_size=100, lr=0.01, optimizer="adam", seed=0)
    return train_model(build_model("demo_mlp", 10), torch.from_numpy(x), torch.from_numpy(y), cfg)


@pytest.fixture(scope="module")
def models():
    torch.set_num_threads(1)
    s = _splits()
    both = [np.concatenate(a) for a in zip(s["retain"], s["forget"])]
    return s, _train(*both), _train(*s["retain"])


def _audit(model, s):
    args = [a for k in ("retain", "forget", "holdout") for a in (model_logits(model, s[k][0]), s[k][1])]
    return audit_unlearning(*args, fpr=0.25, seed=0, n_boot=200)


def test_retrained_model_is_not_flagged_and_remembered_reads_more_member(models):
    s, remembered, retrained = models
    a, b = _audit(remembered, s), _audit(retrained, s)
    assert b["p_value"] >= 0.05 and b["verdict"].startswith("consistent")
    assert a["rates"]["forget"]["rate"] > b["rates"]["forget"]["rate"]


def test_audit_tells_remembered_from_retrained(models):
    s, remembered, retrained = models
    a, b = _audit(remembered, s), _audit(retrained, s)
    assert a["p_value"] < 0.05 and a["verdict"].startswith("NOT FORGOTTEN")
    assert a["rates"]["forget"]["low"] > b["rates"]["forget"]["high"]


def test_cli_audit(models, tmp_path):
    s, remembered, _ = models
    save_model(remembered, tmp_path / "model.pt")
    for k, (x, y) in s.items():
        np.savez(tmp_path / f"{k}.npz", x=x, y=y)
    r = CliRunner().invoke(
        cli,
        [
            "audit",
            "unlearning",
            "--model",
            str(tmp_path / "model.pt"),
            *[a for k in ("retain", "forget", "holdout") for a in (f"--{k}", str(tmp_path / f"{k}.npz"))],
            "--fpr",
            "0.25",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "forget" in r.output and "holdout_test" in r.output and "p = " in r.output


def test_bad_npz_is_a_data_error(tmp_path):
    np.savez(tmp_path / "bad.npz", inputs=np.zeros(3))
    with pytest.raises(DataError, match="'x'"):
        load_split(tmp_path / "bad.npz")
