"""Compare every registered attack on the validation splits of a track (``mia evaluate``).

For each scenario the train-phase models (whose membership is known) act as targets fold by fold,
the other folds' train models as references (``mico.scenario.validation_folds``: a model is never
its own reference). Scores are pooled over all folds with one threshold, like the MICO scorer
pools a phase; with ``pooling="rank"`` each target's scores are first replaced by their quantile
rank within that target (per-model ranks are comparable across models and folds whatever the
attack's scale), with ``pooling="raw"`` the attack's own scores are pooled as they are.
TPRs use the strict rule ``max(tpr[fpr < x])`` of MICO.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from toolkit.attacks import run_attack
from toolkit.attacks.variants import VARIANTS, default_recipes
from toolkit.choose.calibration import rank_within
from toolkit.context import Context
from toolkit.errors import ConfigError, ToolkitError
from toolkit.metrics import bootstrap_ci, metric_key, objective_value, scorer_metrics
from toolkit.tracks import Recipe, Track, load_track

__all__ = [
    "VARIANTS",
    "default_recipes",
    "rank_within",
    "evaluate_scenario",
    "evaluate_track",
    "evaluate_context",
    "FPRS",
]

FPRS = (0.001, 0.01, 0.1)


def evaluate_scenario(
    folds: list, recipes: list[Recipe], *, seed: int = 0, pooling: str = "rank", n_boot: int = 200
) -> list[dict]:
    """One row per recipe: strict TPR at ``FPRS``, AUC, 95% model-bootstrap CIs of TPR@10%FPR and AUC, seconds.

    The CIs resample whole target models (``metrics.bootstrap_ci`` with groups = model ids), as the
    pooled leaderboard figure moves with the models drawn, not with single points.
    """
    if pooling not in ("rank", "raw"):
        raise ConfigError(f"unknown pooling {pooling!r}; valid: rank, raw")
    truth = np.concatenate([f.solution for f in folds])
    models = np.concatenate([np.asarray(f.model_ids)[f.groups] for f in folds])
    rows = []
    for recipe in recipes:
        start, parts, error, ci = time.perf_counter(), [], "", {}
        try:
            for f in folds:
                s = run_attack(
                    recipe.attack, f.target, f.labels, f.ref, f.keep, groups=f.groups, seed=seed, **dict(recipe.params)
                )
                parts.append(rank_within(s, f.groups) if pooling == "rank" else s)
            pooled = np.concatenate(parts)
            m = scorer_metrics(truth, pooled, fprs=FPRS)
            ci = _cis(truth, pooled, models, n_boot, seed)
        except ToolkitError as exc:  # one broken attack must not hide the others' results
            m, error = {}, str(exc)
        row = {"attack": recipe.label()}
        row.update({f"tpr@{100 * x:g}%fpr": m.get(metric_key(x), np.nan) for x in FPRS})
        row.update(
            {
                "tpr10_lo": ci.get("tpr", (np.nan,) * 2)[0],
                "tpr10_hi": ci.get("tpr", (np.nan,) * 2)[1],
                "auc": m.get("AUC", np.nan),
                "auc_lo": ci.get("auc", (np.nan,) * 2)[0],
                "auc_hi": ci.get("auc", (np.nan,) * 2)[1],
                "seconds": time.perf_counter() - start,
                "error": error,
            }
        )
        rows.append(row)
    return rows


def _cis(y, s, models, n_boot: int, seed: int) -> dict[str, tuple[float, float]]:
    """95% bootstrap intervals over target models of strict TPR@10%FPR and AUC."""
    tpr = lambda yy, ss: objective_value(yy, ss, 0.1)[1]
    auc = lambda yy, ss: objective_value(yy, ss, 0.1)[2]
    return {
        name: bootstrap_ci(y, s, stat, groups=models, n_boot=n_boot, seed=seed)[1:]
        for name, stat in (("tpr", tpr), ("auc", auc))
    }


def evaluate_track(
    track: Track | str,
    data_dir: Path,
    *,
    attacks: Iterable[str] | None = None,
    scenarios: Iterable[str] | None = None,
    n_folds: int = 5,
    seed: int = 0,
    pooling: str = "rank",
    cache_dir: Path | None = None,
    dataset_dir: Path | None = None,
    jobs: int = 1,
    out_dir: Path | None = Path("runs"),
    progress: bool = False,
) -> pd.DataFrame:
    """Every attack on every scenario's validation folds; also writes ``<out_dir>/<track>/evaluate.csv``."""
    track = load_track(track) if isinstance(track, str) else track
    ctx = Context(
        track=track,
        data_dir=data_dir,
        dataset_dir=dataset_dir,
        cache_dir=cache_dir,
        jobs=jobs,
        progress=progress,
        seed=seed,
    )
    return evaluate_context(
        ctx, attacks=attacks, scenarios=scenarios, n_folds=n_folds, pooling=pooling, out_dir=out_dir
    )


def evaluate_context(
    ctx: Context,
    *,
    attacks: Iterable[str] | None = None,
    scenarios: Iterable[str] | None = None,
    n_folds: int = 5,
    pooling: str = "rank",
    out_dir: Path | None = Path("runs"),
) -> pd.DataFrame:
    """``evaluate_track`` for a run context (``mia evaluate`` through the track's kind); views: the original."""
    from toolkit.mico.scenario import validation_folds

    recipes = default_recipes(attacks)
    rows = []
    for name in scenarios or ctx.track.scenario_names:
        sd = ctx.open(ctx.track.scenario(name))
        paths = sd.outputs(jobs=ctx.jobs, cache_dir=ctx.cache_dir, progress=ctx.progress, scheduler=ctx.scheduler)
        folds = list(validation_folds(sd, paths, n_folds=n_folds, seed=ctx.seed))
        rows += [{"scenario": name, **r} for r in evaluate_scenario(folds, recipes, seed=ctx.seed, pooling=pooling)]
    table = pd.DataFrame(rows)
    if out_dir is not None:
        from toolkit.io import atomic_write_text

        atomic_write_text(Path(out_dir) / ctx.track.name / "evaluate.csv", table.to_csv(index=False))
    return table
