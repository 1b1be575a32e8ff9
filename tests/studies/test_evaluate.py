"""``evaluate_track`` and ``mia evaluate`` on a tiny MICO-layout challenge built here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from toolkit.data import load_population
from toolkit.errors import ConfigError
from toolkit.mico.challenge import make_splits
from toolkit.models import build_model, save_model
from toolkit.models.training import TrainConfig, train_model
from toolkit.studies.evaluate import default_recipes, evaluate_track, rank_within
from toolkit.tracks import parse_track

N, LEN_TRAINING, M = 1797, 200, 50
TRACK = {
    "track": {
        "name": "tiny",
        "task": "tiny",
        "kind": "mico",
        "dataset": "demo",
        "architecture": "demo_mlp",
        "n_classes": 10,
        "population_size": N,
        "len_training": LEN_TRAINING,
        "m": M,
    },
    "scenarios": {"tiny_inf": {}},
}


def _write_model(folder, seeds: dict, train: bool):
    folder.mkdir(parents=True)
    for name, value in seeds.items():
        (folder / name).write_text(f"{value}\n")
    model = build_model("demo_mlp", 10)
    if train:  # only train-phase models matter here; dev/final just need loadable weights
        pop = load_population("demo")
        idx = make_splits(N, LEN_TRAINING, M, *seeds.values()).training_set()
        train_model(
            model,
            torch.from_numpy(pop.inputs[idx]),
            torch.from_numpy(pop.labels[idx]),
            TrainConfig(epochs=40, batch_size=50, lr=0.2, seed=int(seeds["seed_challenge"]) % 1000),
        )
    save_model(model, folder / "model.pt")


@pytest.fixture(scope="module")
def challenge(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("data")
    scen = root / "tiny" / "tiny_inf"
    for i in range(6):
        seeds = {"seed_challenge": 100 + i, "seed_training": 200 + i, "seed_membership": 300 + i}
        _write_model(scen / "train" / f"model_{i}", seeds, train=True)
    for phase, i in (("dev", 6), ("final", 7)):
        _write_model(scen / phase / f"model_{i}", {"seed_challenge": 100 + i}, train=False)
    return parse_track(TRACK), root


def test_evaluate_track_table_and_csv(challenge, tmp_path):
    track, root = challenge
    table = evaluate_track(
        track,
        root,
        attacks=["threshold", "lira", "rmia", "hardness"],
        n_folds=3,
        cache_dir=tmp_path / "cache",
        out_dir=tmp_path / "runs",
    )
    assert list(table.columns) == [
        "scenario",
        "attack",
        "tpr@0.1%fpr",
        "tpr@1%fpr",
        "tpr@10%fpr",
        "tpr10_lo",
        "tpr10_hi",
        "auc",
        "auc_lo",
        "auc_hi",
        "seconds",
        "error",
    ]
    # model-bootstrap intervals around each estimate, of non-zero width (6 targets resampled)
    assert (table["auc_lo"] < table["auc_hi"]).all() and (table["tpr10_lo"] <= table["tpr10_hi"]).all()
    assert (table["auc_hi"] - table["auc_lo"]).between(0.005, 0.4).all()
    assert len(table) == len(default_recipes(["threshold", "lira", "rmia", "hardness"]))
    assert (table["error"] == "").all() and table["auc"].between(0, 1).all()
    # the MLPs overfit their 200 points: every attack beats chance on the pooled folds, and with
    # ~11% IN references per point the offline (OUT-only) LiRA is among the best
    auc = dict(zip(table["attack"], table["auc"]))
    assert min(auc.values()) > 0.5, auc
    assert auc["lira(online=False)"] > 0.6 and auc["lira(online=False)"] > auc["threshold(signal=loss)"], auc
    saved = pd.read_csv(tmp_path / "runs" / "tiny" / "evaluate.csv")
    assert saved["attack"].tolist() == table["attack"].tolist()


def test_cli_prints_the_table(challenge, tmp_path, monkeypatch):
    track, root = challenge
    import toolkit.commands.dispatch as dispatch  # where the commands load a track by name
    from toolkit.cli import cli

    monkeypatch.setattr(dispatch, "load_track", lambda name: track)
    result = CliRunner().invoke(
        cli,
        [
            "evaluate",
            "--track",
            "tiny",
            "--data",
            str(root),
            "--attacks",
            "lira",
            "--folds",
            "2",
            "--cache-dir",
            str(tmp_path / "c"),
            "--out",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "lira(fix_variance=False)" in result.output and "auc" in result.output


def test_unknown_attack_lists_valid_ones():
    with pytest.raises(ConfigError, match="valid attacks: .*lira"):
        default_recipes(["liraa"])


def test_rank_within_groups():
    out = rank_within(np.array([3.0, 1.0, 2.0, 10.0, 10.0]), np.array([0, 0, 0, 1, 1]))
    np.testing.assert_allclose(out, [1.0, 0.0, 0.5, 0.5, 0.5])
