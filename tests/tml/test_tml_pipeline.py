"""The ResNet18 track's pipeline: out-of-fold validation, board simulation, CSV rules, end to end."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from fixtures_tml import one_thread, write_task

from toolkit.errors import SubmissionError
from toolkit.tml.package import normalise, read_submission_csv, submission_problems, write_submission_csv
from toolkit.tml.pipeline import (
    TMLOutputs,
    make_submission,
    oof_scores,
    simulate_leaderboard,
    stratified_folds,
    validate,
)
from toolkit.tml.settings import TMLSettings


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with one_thread():
        yield


def leaky_outputs(n_pub=400, n_priv=100, n_classes=5, seed=0) -> TMLOutputs:
    """Logits where members' true class logit is larger: a target that leaks membership."""
    rng = np.random.default_rng(seed)
    n = n_pub + n_priv
    labels = rng.integers(0, n_classes, n)
    member = rng.permutation(np.arange(n) % 2)
    z = rng.normal(0, 1, (n, 1, n_classes)).astype(np.float32)
    z[np.arange(n), 0, labels] += (1.0 + 1.5 * member).astype(np.float32)
    membership = np.concatenate([member[:n_pub], -np.ones(n_priv)]).astype(np.int8)
    return TMLOutputs(
        np.arange(n) + 100,
        labels.astype(np.int64),
        membership,
        n_pub,
        z,
        np.zeros((0, n, 1, n_classes), np.float32),
        np.zeros((0, n), bool),
    )


def test_stratified_folds_balance_members():
    m = np.array([1] * 10 + [0] * 20)
    folds = stratified_folds(m, 5, seed=3)
    for f in range(5):
        assert (m[folds == f] == 1).sum() == 2 and (m[folds == f] == 0).sum() == 4


@pytest.mark.parametrize("attack,params", [("threshold", {}), ("ensemble", {"model": "lgbm", "n_estimators": 30})])
def test_oof_scores_find_the_leak(attack, params):
    outs = leaky_outputs()
    s = oof_scores(attack, params, outs, k=4)
    fig = validate(outs.membership[:400], s, n_boot=50, n_sims=20)
    assert fig["auc"] > 0.75
    assert fig["tpr@5%fpr_strict"] <= fig["tpr@5%fpr_inclusive"]
    lo, hi = fig["tpr_ci95"]
    assert lo <= fig["tpr@5%fpr_strict"] <= hi


def test_ensemble_trains_on_other_folds_only():
    """Membership shuffled relative to the outputs: a learner that saw its test fold would still score > 0.5."""
    outs = leaky_outputs()
    rng = np.random.default_rng(1)
    shuffled = outs.membership.copy()
    shuffled[:400] = rng.permutation(shuffled[:400])
    noise = TMLOutputs(outs.ids, outs.labels, shuffled, outs.n_pub, outs.target, outs.ref, outs.keep)
    s = oof_scores("ensemble", {"model": "lgbm", "n_estimators": 30}, noise, k=4)
    assert abs(validate(shuffled[:400], s, n_boot=10, n_sims=5)["auc"] - 0.5) < 0.1


def test_board_slice_simulation():
    y = np.array([1] * 100 + [0] * 100)
    perfect = simulate_leaderboard(y, y.astype(float), n_sims=10)
    assert perfect["per_class"] == 30 and perfect["mean"] == 1.0 and perfect["std"] == 0.0
    rnd = simulate_leaderboard(y, np.random.default_rng(0).random(200), n_sims=50)
    assert 0.0 <= rnd["p5"] <= rnd["mean"] <= rnd["p95"] < 0.5


def test_csv_rules_collected_at_once(tmp_path):
    ids = np.array([1, 2, 2, 5])
    problems = submission_problems(ids, [0.1, np.nan, 0.3, 2.0], expected_ids=[1, 2, 3, 4])
    text = " | ".join(problems)
    assert "repeated" in text and "missing" in text and "unknown" in text and "NaN" in text
    assert any("hard 0/1" in p for p in submission_problems([1, 2], [0.0, 1.0]))
    with pytest.raises(SubmissionError, match="problem"):
        write_submission_csv(tmp_path / "x.csv", ids, [0.1, np.nan, 0.3, 2.0], [1, 2, 3, 4])
    assert not (tmp_path / "x.csv").exists()


def test_csv_round_trip_and_normalise(tmp_path):
    s = normalise([3.0, -1.0, 1.0])
    np.testing.assert_allclose(s, [1.0, 0.0, 0.5])
    assert (normalise([2.0, 2.0]) == 0.5).all()
    path = write_submission_csv(tmp_path / "r.csv", [7, 8, 9], s, [9, 8, 7])
    assert path.read_text().splitlines()[0] == "ids,score"
    ids, scores = read_submission_csv(path, [7, 8, 9])
    np.testing.assert_array_equal(ids, [7, 8, 9])
    np.testing.assert_allclose(scores, s)
    (tmp_path / "bad.csv").write_text("id,score\n1,0.5\n")
    with pytest.raises(SubmissionError, match="header"):
        read_submission_csv(tmp_path / "bad.csv")


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tml") / "task"
    write_task(folder, n_pub=80, n_priv=60)
    return folder


def test_make_submission_end_to_end(task_dir, tmp_path):
    out = tmp_path / "submissions" / "resnet18"
    cache = tmp_path / "cache"
    settings = TMLSettings(
        data_dir=task_dir,
        out_dir=out,
        shadows=0,
        params={"model": "lgbm", "n_estimators": 20},
        folds=3,
        cache_dir=cache,
        run_name="r1",
        n_boot=20,
        n_sims=20,
        progress=False,
    )
    make_submission(settings)
    from toolkit.data.tml import load_task

    ids, scores = read_submission_csv(out / "r1.csv", load_task(task_dir).priv.ids)
    assert len(ids) == 60 and 0 <= scores.min() and scores.max() <= 1
    saved = json.loads((out / "r1.manifest.json").read_text())
    assert saved["recipe"] == {"attack": "ensemble", "model": "lgbm", "n_estimators": 20}
    assert set(saved["validation"]) == {"ensemble", "threshold"}  # no shadows: no lira/rmia
    assert {"git_commit", "packages", "inputs", "estimate"} <= set(saved)
    assert saved["estimate"]["board_slice"]["n_sims"] == 20
    entries = sorted(cache.rglob("*.npy"))
    assert len(entries) == 1
    stamp = entries[0].stat().st_mtime_ns
    make_submission(replace(settings, attack="threshold", params={}, run_name="r2", n_boot=5, n_sims=5))
    assert entries[0].stat().st_mtime_ns == stamp  # served from the cache


@pytest.mark.slow
def test_make_submission_with_shadows(task_dir, tmp_path):
    from toolkit.models.training import TrainConfig

    man = make_submission(
        TMLSettings(
            data_dir=task_dir,
            out_dir=tmp_path / "out",
            shadows=2,
            attack="threshold",
            folds=3,
            shadow_dir=tmp_path / "sh",
            train=TrainConfig(epochs=1, batch_size=64, lr=0.01),
            cache_dir=tmp_path / "c",
            run_name="s",
            n_boot=10,
            n_sims=10,
            progress=False,
        )
    )
    assert {"threshold", "lira", "rmia"} == set(man["validation"])
    assert man["shadows"]["n"] == 2 and len(list((tmp_path / "sh").glob("shadow_*.pt"))) == 2
    keep = np.load(tmp_path / "sh" / "keep.npy")
    np.testing.assert_array_equal(keep.sum(0), 1)  # pool 'all': every pub and priv point IN once of 2


@pytest.mark.slow
def test_cli_tml_submit(task_dir, tmp_path):
    """Shadows (one pair), every candidate ranked, the first submitted."""
    from click.testing import CliRunner

    from toolkit.cli import cli

    common = ["tml", "submit", "--data", str(task_dir), "--folds", "3", "--cache-dir", str(tmp_path / "c")]
    res = CliRunner().invoke(
        cli,
        common + ["--out", str(tmp_path), "--run", "cli", "--shadows", "2", "--epochs", "1"]
        + ["--shadow-dir", str(tmp_path / "sh")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    man = json.loads((tmp_path / "cli.manifest.json").read_text())
    assert man["shadows"]["n"] == 2 and "validation ranking" in res.output
    assert f"submitted: {man['ranking'][0]['label']} (ranked first)" in res.output
    assert (tmp_path / "cli.csv").exists() and "shadow models " in res.output  # the recipe check's verdict
    res = CliRunner().invoke(cli, common + ["--out", str(tmp_path), "--run", "none", "--shadows", "0"])
    assert res.exit_code == 0 and "shadows: none" in res.output, res.output
    res = CliRunner().invoke(cli, ["tml", "submit", "--data", str(tmp_path / "missing")])
    assert res.exit_code == 1 and "missing" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(cli, ["tml", "submit", "--track", "demo", "--data", str(task_dir)])
    assert res.exit_code == 1 and "kind mico" in res.output and "Traceback" not in res.output
