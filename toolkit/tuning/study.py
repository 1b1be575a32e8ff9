"""Optuna studies on the validation split: pick a scenario's recipe without touching dev/final answers.

Protocol (nothing the search sees can leak into the figure it is judged by):

1. The train-phase models (every membership known) are split once, by ``seed``, into a *tuning*
   part and a *held-out* part (``heldout_fraction``, at least one model).
2. Trials are scored on ``n_folds`` folds of the tuning part: a fold's models are targets, the
   other tuning models their references; a model is never its own reference, and held-out
   models are never seen (neither as targets nor as references).
3. The held-out models are scored once at the end, as targets with every tuning model as
   reference, for the best trial's recipe and for the track's default recipe.

Every figure pools the points of all targets under one threshold, as the leaderboard does:
objective = TPR at FPR < x (strict; x = 10% for MICO tracks, 5% for ``kind = "tml"``) + 1e-3·AUC,
the AUC breaking ties between recipes with equal TPR. CIs are percentile bootstraps over whole
target models (``metrics.bootstrap_ci`` with groups = model ids).

Studies live in any Optuna RDB storage (default SQLite ``runs/<track>/tuning.db``), one per
scenario, so a killed run resumes and many ``mia tune`` processes can share one PostgreSQL study.
The result is data: ``runs/<track>/tuned_recipes.json``, read by ``pipeline.resolve_recipe``.
"""

from __future__ import annotations

import fcntl
import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toolkit.attacks.variants import default_recipes
from toolkit.context import Context, leaderboard_fpr
from toolkit.errors import ConfigError, DataError
from toolkit.io import atomic_write_text
from toolkit.metrics import AUC_WEIGHT, figures, gain_ci, objective_value
from toolkit.mico.auto import AUTO, auto_rule, select
from toolkit.mico.scenario import (
    PhaseArrays,
    ScenarioData,
    fold_arrays,
    pool,
    score_arrays,
    train_logits,
    validation_folds,
)
from toolkit.tracks import Recipe, Scenario, Track, runs_dir
from toolkit.tuning.report import write_report
from toolkit.tuning.space import (
    Objective,
    SearchPoint,
    candidate_from_params,
    enqueue_default,
    open_study,
    optimise,
    parse_attacks,
    public_url,
)

__all__ = [
    "AUC_WEIGHT",
    "objective_fpr",
    "TuningFolds",
    "make_folds",
    "pooled",
    "objective_value",
    "figures",
    "gain_ci",
    "default_storage",
    "tune_scenario",
    "tune",
    "write_entry",
    "tuned_path",
    "write_report",
    "summary_line",
]


def objective_fpr(track: Track) -> float:
    """The FPR the track's leaderboard ranks by (its kind's ``LEADERBOARD_FPR``: MICO 10%, the ResNet18 task 5%)."""
    return leaderboard_fpr(track)


@dataclass
class TuningFolds:
    """The arrays of every fold, loaded once and kept in memory across trials."""

    tuning: list[PhaseArrays]
    heldout: PhaseArrays
    tuning_ids: list[int]
    heldout_ids: list[int]
    view_names: tuple[str, ...]


def _split_ids(ids: list[int], heldout_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    if len(ids) < 3:
        raise DataError(
            f"tuning needs at least 3 train-phase models (2 to tune, 1 held out), found {len(ids)}",
            "build the challenge with more --train-models",
        )
    if not 0 < heldout_fraction < 1:
        raise ConfigError(f"heldout_fraction must be in (0, 1), got {heldout_fraction}")
    order = np.random.default_rng([seed, 7]).permutation(len(ids))
    n_out = min(max(1, int(round(heldout_fraction * len(ids)))), len(ids) - 2)
    return sorted(ids[i] for i in order[n_out:]), sorted(ids[i] for i in order[:n_out])


def make_folds(
    sd: ScenarioData,
    paths: dict,
    view_names: tuple[str, ...],
    *,
    heldout_fraction: float = 0.2,
    n_folds: int = 4,
    seed: int = 0,
) -> TuningFolds:
    """Tuning folds (targets vs the other tuning models) and the held-out fold (vs all tuning models)."""
    tune_ids, out_ids = _split_ids([md.model_id for md in sd.models["train"]], heldout_fraction, seed)
    logits = train_logits(sd, paths)
    tuning = list(validation_folds(sd, paths, n_folds, [seed, 11], ids=tune_ids, logits=logits))
    return TuningFolds(tuning, fold_arrays(sd, logits, out_ids, tune_ids), tune_ids, out_ids, tuple(view_names))


def pooled(fold_list: list[PhaseArrays], candidate: SearchPoint, view_names: tuple[str, ...], seed: int = 0):
    """(solution, raw scores, target model ids) of a candidate, pooled over ``fold_list``."""
    return pool(fold_list, lambda f: score_arrays(candidate.select(f, view_names), candidate.recipe, seed))


def default_storage(track: Track) -> str:
    """The Optuna storage of a track: SQLite at ``runs/<track>/tuning.db``."""
    path = (runs_dir(track) / "tuning.db").resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def tuned_path(track: Track) -> Path:
    """``runs/<track>/tuned_recipes.json``, read by ``pipeline.resolve_recipe``."""
    return runs_dir(track) / "tuned_recipes.json"


@contextmanager
def _locked(path: Path):
    """An exclusive lock beside ``path``: workers tuning different scenarios update one JSON file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def write_entry(track: Track, scenario: str, entry: dict) -> Path:
    """Read-modify-write ``tuned_recipes.json`` under a lock, atomically."""
    path = tuned_path(track)
    with _locked(path):
        data = json.loads(path.read_text()) if path.is_file() else {}
        data[scenario] = entry
        atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=float) + "\n")
    return path


def _verdict(entry: dict, say) -> None:
    """Keep the default where the tuned recipe is worse on held-out models; warn when the gain is noise."""
    tuned, default = entry["heldout"]["objective"], entry["default_heldout"]["objective"]
    lo, hi = entry["gain_ci"]
    if tuned < default:
        entry["recipe"], entry["views"], entry["choice"] = entry["default_recipe"], "all", "default"
        say(
            f"  tuned recipe is worse than the default on held-out models ({tuned:.4f} < {default:.4f}): "
            f"keeping the default recipe"
        )
    elif lo <= 0.0 <= hi:
        say(
            f"  warning: held-out gain {tuned - default:+.4f} lies inside its 95% CI [{lo:+.4f}, {hi:+.4f}]: "
            f"not distinguishable from the default"
        )


def _evaluate(
    folds: TuningFolds, best: SearchPoint, default: SearchPoint, fpr_x: float, seed: int
) -> tuple[dict, dict]:
    """Figures of both recipes on the tuning folds and on the held-out fold, and the curves to plot."""
    out, curves = {}, {}
    for tag, cand in (("tuned", best), ("default", default)):
        for where, fl in (("validation", folds.tuning), ("heldout", [folds.heldout])):
            y, s, g = pooled(fl, cand, folds.view_names, seed)
            out[(tag, where)] = figures(y, s, g, fpr_x, seed=seed)
            curves[(tag, where)] = (y, s, g)
    y, s_new, g = curves[("tuned", "heldout")]
    out["gain"] = gain_ci(y, s_new, curves[("default", "heldout")][1], g, fpr_x, seed=seed)
    return out, curves


def _concrete_default(
    sd: ScenarioData, ctx: Context, scenario: Scenario, tuning_ids: list[int], attacks: list[str]
) -> Recipe:
    """The recipe the track would use, as one point of the search space: ``auto``'s first pick among the
    searched families' recipes (no stacker, no per-target transform), made on the tuning models only."""
    if scenario.recipe.attack != AUTO:
        return scenario.recipe
    sel = select(
        sd,
        ctx.paths(sd),
        fpr=objective_fpr(ctx.track),
        seed=ctx.seed,
        fusion=False,
        ids=tuning_ids,
        transforms=("raw",),
        recipes=default_recipes(attacks),
        rule=auto_rule(scenario.recipe),
    )
    return sel.chosen.recipe


def tune_scenario(
    ctx: Context,
    scenario: Scenario,
    *,
    trials: int | None = 30,
    timeout: float | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    attacks: list[str] | None = None,
    jobs: int = 1,
    heldout_fraction: float = 0.2,
    n_folds: int = 4,
    report: bool = True,
    say=print,
) -> dict:
    """Run (or continue) one scenario's study, judge the result on held-out models, write the entry."""
    attacks = attacks or parse_attacks(None)
    sd = ctx.open(scenario)
    folds = make_folds(sd, ctx.paths(sd), ctx.views, heldout_fraction=heldout_fraction, n_folds=n_folds, seed=ctx.seed)
    fpr_x = objective_fpr(ctx.track)
    name = study_name or f"{ctx.track.name}-{scenario.name}"
    study = open_study(storage or default_storage(ctx.track), name, ctx.seed, shared=storage is not None)
    default = SearchPoint(_concrete_default(sd, ctx, scenario, folds.tuning_ids, attacks))
    enqueue_default(study, default, attacks, folds.view_names)

    def score(cand: SearchPoint, report) -> tuple[float, float, float]:
        ys, ss = [], []
        for k, fold in enumerate(folds.tuning):
            y, s, _ = pooled([fold], cand, folds.view_names, ctx.seed)
            ys.append(y)
            ss.append(s)
            if k < len(folds.tuning) - 1:
                report(k, objective_value(np.concatenate(ys), np.concatenate(ss), fpr_x)[0])
        return objective_value(np.concatenate(ys), np.concatenate(ss), fpr_x)

    optimise(study, Objective(score, attacks, folds.view_names), trials, timeout, jobs, ctx.progress, scenario.name)
    best = candidate_from_params(study.best_trial.params)
    res, curves = _evaluate(folds, best, default, fpr_x, ctx.seed)
    entry = {
        **best.as_dict(),
        "choice": "tuned",
        "tuned_recipe": best.recipe.as_dict(),
        "default_recipe": default.recipe.as_dict(),
        "validation": res[("tuned", "validation")],
        "heldout": res[("tuned", "heldout")],
        "default_validation": res[("default", "validation")],
        "default_heldout": res[("default", "heldout")],
        "gain_ci": list(res["gain"][1:]),
        "n_trials": len(study.trials),
        "study": name,
        "storage": public_url(storage or default_storage(ctx.track)),
        "best_trial": study.best_trial.number,
        "tuning_models": folds.tuning_ids,
        "heldout_models": folds.heldout_ids,
        "seed": ctx.seed,
        "objective": f"strict TPR@FPR<{fpr_x:g} + {AUC_WEIGHT:g}*AUC, pooled over targets",
    }
    _verdict(entry, say)
    if report:
        entry["report"] = write_report(runs_dir(ctx.track) / "tuning" / scenario.name, study, curves, fpr_x)
    write_entry(ctx.track, scenario.name, entry)
    return entry


def tune(ctx: Context, scenarios: list[str] | None = None, say=print, **kw) -> dict[str, dict]:
    """Tune every (or the named) scenario of a track; returns ``{scenario: entry}``."""
    if kw.get("study_name") and (scenarios is None or len(scenarios) != 1) and len(ctx.track.scenarios) > 1:
        raise ConfigError("--study names one study: give one --scenario with it (one study per scenario)")
    chosen = [ctx.track.scenario(n) for n in scenarios] if scenarios else list(ctx.track.scenarios)
    out = {}
    for sc in chosen:
        out[sc.name] = entry = tune_scenario(ctx, sc, say=say, **kw)
        say(summary_line(sc.name, entry))
    return out


def summary_line(name: str, e: dict) -> str:
    """One line per tuned scenario: tuned vs default held-out objective with CIs, and the choice."""
    h, d = e["heldout"], e["default_heldout"]
    return (
        f"{name}: tuned {json.dumps(e['tuned_recipe'])} held-out {h['objective']:.4f} "
        f"[{h['ci'][0]:.4f}, {h['ci'][1]:.4f}] vs default {json.dumps(e['default_recipe'])} {d['objective']:.4f} "
        f"[{d['ci'][0]:.4f}, {d['ci'][1]:.4f}] -> using the {e['choice']} recipe "
        f"({e['n_trials']} trials in study {e['study']})"
    )
