"""``mia tune``: search space, leak-free folds, persistent studies, the recipe file and its use."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import optuna
import pytest
from click.testing import CliRunner

from toolkit.attacks.registry import attack_params
from toolkit.cli import cli
from toolkit.errors import ConfigError
from toolkit.metrics import roc, tpr_at_fpr
from toolkit.mico.pipeline import Context, resolve_recipe
from toolkit.tracks import Recipe, load_track
from toolkit.tuning.space import (
    ALL_VIEWS,
    SearchPoint,
    attack_space,
    candidate_from_params,
    param_distribution,
    params_of,
    parse_attacks,
    suggest_candidate,
)
from toolkit.tuning.study import AUC_WEIGHT, _split_ids, gain_ci, make_folds, objective_fpr, objective_value


@pytest.fixture
def runs(tmp_path, monkeypatch):
    """A private runs/ folder: the recipes written here must not reach other tests' `mia attack`."""
    monkeypatch.setenv("MIA_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path / "runs" / "demo"


def tune(data, *args):
    result = CliRunner().invoke(
        cli,
        ["tune", "--track", "demo", "--data", str(data), "-s", "demo_inf", "-q", *map(str, args)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return result.output


# ---- the space --------------------------------------------------------------------------------------


def test_distributions_follow_the_registered_ranges():
    assert param_distribution("lira", "online").choices == (True, False)
    assert "modified_entropy" in param_distribution("hardness", "signal").choices
    assert param_distribution("hardness", "formula").choices == ("in", "mid", "z")
    d = param_distribution("rmia", "gamma")
    assert (d.low, d.high) == (1.0, 4.0)
    assert param_distribution("hardness", "pool") is None  # str marked FIXED: stays at default
    assert param_distribution("quantile", "level") is None
    assert param_distribution("ensemble", "train_logits") is None
    assert param_distribution("ensemble", "max_pseudo") is None  # int marked FIXED


def test_every_registered_attack_has_a_space_and_bad_names_are_listed():
    for name in parse_attacks(None):
        attack_space(name)  # must not raise for any registered family
    assert set(attack_space("hardness")) == {"signal", "formula"}
    assert parse_attacks("hardness, threshold") == ["hardness", "threshold"]
    with pytest.raises(ConfigError, match="valid attacks: .*hardness"):
        parse_attacks("hardness,nope")


def test_conditional_suggestions_round_trip():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(20):
        trial = study.ask()
        cand = suggest_candidate(trial, ["hardness", "threshold"], ("orig", "flip"))
        assert all(k == "attack" or k == "views" or k.startswith(cand.recipe.attack + ".") for k in trial.params)
        assert candidate_from_params(trial.params) == cand
        assert params_of(cand, ["hardness", "threshold"], ("orig", "flip")) == trial.params
        study.tell(trial, 0.0)


def test_params_of_refuses_recipes_outside_the_space():
    assert params_of(SearchPoint(Recipe("hardness", {"signal": "nope"})), ["hardness"], ("orig",)) is None
    assert params_of(SearchPoint(Recipe("lira", {})), ["hardness"], ("orig",)) is None
    # omitted params take the defaults, exactly as the recipe would
    assert params_of(SearchPoint(Recipe("hardness", {})), ["hardness"], ("orig",)) == {
        "attack": "hardness",
        "hardness.signal": "loss",
        "hardness.formula": "in",
    }


def test_view_selection_slices_the_view_axis():
    from toolkit.mico.scenario import PhaseArrays

    arr = PhaseArrays(
        np.zeros((3, 2, 4), np.float32),
        np.zeros(3, np.int64),
        np.ones((5, 3, 2, 4), np.float32),
        np.zeros((5, 3), bool),
        np.zeros(3, np.int64),
        [0],
        np.arange(3),
    )
    one = SearchPoint(Recipe("threshold"), "flip").select(arr, ("orig", "flip"))
    assert one.target.shape == (3, 1, 4) and one.ref.shape == (5, 3, 1, 4)
    assert SearchPoint(Recipe("threshold"), ALL_VIEWS).select(arr, ("orig", "flip")) is arr


# ---- the objective ------------------------------------------------------------------------------------


def test_objective_is_strict_tpr_plus_small_auc():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.9, 0.4, 0.8, 0.95, 0.99])
    value, tpr, auc = objective_value(y, s, 0.25)
    # FPR < 0.25 means no negative above the threshold: only 0.95 and 0.99 -> TPR 0.5
    assert tpr == 0.5 and auc == pytest.approx(14 / 16)  # 14 of 16 (member, non-member) pairs ordered
    assert value == pytest.approx(0.5 + AUC_WEIGHT * 14 / 16)
    fpr, t = roc(y, s)
    assert tpr == tpr_at_fpr(fpr, t, 0.25, strict=True)
    assert objective_fpr(load_track("demo")) == 0.1


def test_gain_ci_is_paired():
    rng = np.random.default_rng(0)
    y = np.tile([0, 1], 200)
    groups = np.repeat(np.arange(8), 50)
    s = y + rng.normal(0, 1, len(y))
    est, lo, hi = gain_ci(y, s, s, groups, 0.1, n_boot=50)
    assert est == lo == hi == 0.0  # the same recipe twice: every resample gains exactly 0
    est, lo, hi = gain_ci(y, s + 3 * y, s, groups, 0.1, n_boot=50)
    assert 0 < lo <= est <= hi


# ---- the folds ------------------------------------------------------------------------------------


def test_split_holds_out_a_fifth_and_needs_three_models():
    tune_ids, out = _split_ids(list(range(10)), 0.2, seed=3)
    assert len(out) == 2 and sorted(tune_ids + out) == list(range(10)) and not set(tune_ids) & set(out)
    assert _split_ids(list(range(10)), 0.2, seed=3) == (tune_ids, out)
    with pytest.raises(Exception, match="at least 3"):
        _split_ids([0, 1], 0.2, 0)


def test_folds_never_leak(tiny_demo):
    ctx = Context(track=load_track("demo"), data_dir=tiny_demo, progress=False)
    sd = ctx.open(ctx.track.scenario("demo_inf"))
    paths = ctx.paths(sd)
    folds = make_folds(sd, paths, ctx.views, n_folds=3)
    assert folds.heldout.model_ids == folds.heldout_ids and set(folds.heldout_ids).isdisjoint(folds.tuning_ids)
    seen = []
    for f in folds.tuning:
        seen += f.model_ids
        # references = the other tuning models: never the target, never a held-out model
        assert f.ref.shape[0] == len(folds.tuning_ids) - len(f.model_ids)
        assert f.target.shape[0] == f.solution.shape[0] == f.keep.shape[1] == 200 * len(f.model_ids)
    assert sorted(seen) == folds.tuning_ids
    assert folds.heldout.ref.shape[0] == len(folds.tuning_ids)
    # the solution is the target's own membership of its challenge points
    tid = folds.heldout_ids[0]
    sp = sd.splits[("train", tid)]
    assert np.array_equal(folds.heldout.solution[:200], sp.membership(sd.population_size)[sp.challenge])


# ---- end to end -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_tune_writes_study_recipe_and_report_then_resumes(tiny_demo, runs):
    tune(tiny_demo, "--trials", 10, "--attacks", "hardness,threshold,lira,rmia")
    entry = json.loads((runs / "tuned_recipes.json").read_text())["demo_inf"]
    assert entry["n_trials"] == 10 and entry["study"] == "demo-demo_inf"
    h = entry["heldout"]  # the objective is the leaderboard figure plus the AUC tie-break, on held-out models
    assert h["objective"] == pytest.approx(h["TPR_FPR_1000"] + AUC_WEIGHT * h["AUC"], abs=1e-12)
    assert h["n_targets"] == len(entry["heldout_models"]) and set(entry["heldout_models"]).isdisjoint(
        entry["tuning_models"]
    )
    if entry["heldout"]["objective"] < entry["default_heldout"]["objective"]:  # the recipe in use is never worse
        assert entry["choice"] == "default" and entry["recipe"] == entry["default_recipe"]
    assert entry["recipe"]["attack"] in ("hardness", "threshold", "lira", "rmia")
    for name in ("history", "importances", "roc"):
        assert (runs / "tuning" / "demo_inf" / f"{name}.png").stat().st_size > 1000
    storage = f"sqlite:///{runs / 'tuning.db'}"
    assert len(optuna.load_study(study_name="demo-demo_inf", storage=storage).trials) == 10
    # trial 0 is the default recipe, enqueued
    first = optuna.load_study(study_name="demo-demo_inf", storage=storage).trials[0].params
    cand, default = candidate_from_params(first).recipe.as_dict(), entry["default_recipe"]
    filled = {**attack_params(default["attack"]), **default}  # the trial names every searched parameter
    assert set(default) <= set(cand) and cand == {k: filled[k] for k in cand}  # auto's single-attack choice
    assert entry["default_recipe"]["attack"] in (
        "hardness",
        "threshold",
        "lira",
        "rmia",
        "base",
        "informia",
        "bavaria",
        "quantile",
        "ensemble",
        "shokri",
    )

    out = tune(tiny_demo, "--trials", 3, "--attacks", "hardness,threshold,lira,rmia")
    assert "demo_inf" in out and "held-out" in out
    assert len(optuna.load_study(study_name="demo-demo_inf", storage=storage).trials) == 13
    track = load_track("demo")
    recipe, origin = resolve_recipe(track, track.scenario("demo_inf"))
    saved = json.loads((runs / "tuned_recipes.json").read_text())["demo_inf"]
    # with recipe = "auto" the tuned recipe competes inside auto (used only where its held-out figure beats it)
    assert (recipe.attack, origin) == ("auto", "default") and saved["n_trials"] == 13
    explicit = replace(track.scenario("demo_inf"), recipe=Recipe("hardness", {"formula": "mid"}))
    track = replace(track, scenarios=(explicit, *track.scenarios[1:]))
    recipe, origin = resolve_recipe(track, explicit)
    assert origin == "tuned" and recipe.as_dict() == saved["recipe"]
    # scenarios that were not tuned keep their track.toml recipe
    assert resolve_recipe(track, track.scenario("demo_hi")) == (track.scenario("demo_hi").recipe, "default")


def test_tuned_recipe_worse_than_default_is_not_kept(tiny_demo, runs):
    """Only plain thresholds may be searched: they lose to the default calibrated attack on held-out models."""
    out = tune(tiny_demo, "--trials", 2, "--attacks", "threshold", "--no-report", "--study", "thresholds-only")
    entry = json.loads((runs / "tuned_recipes.json").read_text())["demo_inf"]
    worse = entry["heldout"]["objective"] < entry["default_heldout"]["objective"]
    assert (entry["choice"] == "default") == worse  # the verdict follows the held-out figures, either way
    assert entry["recipe"] == (entry["default_recipe"] if worse else entry["tuned_recipe"])
    assert ("keeping the default" in out) == worse
    assert entry["study"] == "thresholds-only" and "report" not in entry


def test_bad_options_are_one_line_errors(tiny_demo, runs):
    result = CliRunner().invoke(cli, ["tune", "--track", "demo", "--data", str(tiny_demo), "--attacks", "bogus"])
    assert result.exit_code != 0 and "valid attacks" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(cli, ["tune", "--track", "demo", "--data", str(tiny_demo), "--study", "x"])
    assert result.exit_code != 0 and "one --scenario" in result.output


def test_fast_roc_matches_the_scorer_with_ties():
    from toolkit.metrics import metric_key, scorer_metrics

    rng = np.random.default_rng(4)
    for n in (7, 50, 400):
        y = rng.integers(0, 2, n)
        y[:2] = [0, 1]
        s = np.round(rng.normal(size=n) + y, 1)  # rounding makes many ties
        ref = scorer_metrics(y, s, fprs=(0.05, 0.1))
        _, tpr, auc = objective_value(y, s, 0.1)
        assert tpr == ref[metric_key(0.1)] and auc == pytest.approx(ref["AUC"], abs=1e-12)
        assert objective_value(y, s, 0.05)[1] == ref[metric_key(0.05)]


def test_verdict_keeps_the_default_when_tuning_loses_and_warns_on_noise():
    from toolkit.tuning.study import _verdict

    def entry(tuned, default, ci):
        return {
            "recipe": {"attack": "lira"},
            "views": "flip",
            "choice": "tuned",
            "default_recipe": {"attack": "hardness"},
            "heldout": {"objective": tuned},
            "default_heldout": {"objective": default},
            "gain_ci": ci,
        }

    said = []
    e = entry(0.1, 0.2, [-0.2, 0.0])
    _verdict(e, said.append)
    assert e["recipe"] == {"attack": "hardness"} and e["choice"] == "default" and e["views"] == "all"
    assert "keeping the default" in said[-1]
    e = entry(0.25, 0.2, [-0.01, 0.1])
    _verdict(e, said.append)
    assert e["choice"] == "tuned" and "inside its 95% CI" in said[-1]
    n = len(said)
    e = entry(0.3, 0.2, [0.05, 0.15])
    _verdict(e, said.append)
    assert e["choice"] == "tuned" and len(said) == n  # a clear gain: nothing to warn about


def test_parallel_threads_run_the_enqueued_default_once(tmp_path):
    """Two threads on SQLite could both take the enqueued default trial; the second then failed with
    "Cannot tell a COMPLETE trial" (about one study in five). The default runs alone, then the rest in parallel."""
    import time

    from toolkit.tuning.space import optimise

    def objective(trial):
        time.sleep(0.02)
        return trial.suggest_float("x", 0.0, 1.0)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for i in range(12):
        study = optuna.create_study(storage=f"sqlite:///{tmp_path / f's{i}.db'}", direction="maximize")
        study.enqueue_trial({"x": 0.5})
        optimise(study, objective, trials=3, timeout=None, jobs=2, progress=False)
        done = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
        assert len(done) == 3 and done[0].params == {"x": 0.5}
