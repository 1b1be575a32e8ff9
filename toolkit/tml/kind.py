"""The ``tml`` kind: the ResNet18 public/private task (one target, a labelled public set, ``ids,score`` CSV).

Its one stage is ``submit``: shadows (by default as many as a time budget holds), outputs,
out-of-fold validation of every candidate on the public set, the private scores of the one ranked
first (or of the recipe fixed in ``track.toml``) and the CSV, with the ``[shadow]`` recipe.
"""

from __future__ import annotations

import time
from pathlib import Path

from toolkit.kinds import Context, reads
from toolkit.tml.board import FPR
from toolkit.tml.summary import format_validation
from toolkit.tracks import ShadowTraining, Track

__all__ = ["LEADERBOARD_FPR", "COMMANDS", "submit_task"]

LEADERBOARD_FPR = FPR  # the task's server ranks by TPR at 5% FPR


def submit_task(
    track: Track,
    data_dir: Path,
    *,
    out_dir: Path | None = None,
    shadows: int | None = None,
    budget_min: float | None = None,
    max_shadows: int | None = None,
    match: bool = False,
    epochs: int | None = None,
    shadow_dir: Path | None = None,
    model: str | None = None,
    folds: int = 5,
    seed: int = 0,
    run_name: str | None = None,
    views=None,
    jobs: int = 1,
    cache_dir: Path | None = None,
    progress: bool = True,
    log=None,
) -> dict:
    """The task's pipeline with the track's recipe and shadow recipe; returns the manifest.

    ``shadows`` None trains as many as ``budget_min`` minutes hold (default ``DEFAULT_BUDGET_MIN``),
    reusing what earlier runs trained; 0 trains none. ``model``/``epochs`` override track.toml, and
    ``views`` the track's query views.
    The run's report goes beside the CSV (``toolkit.report.tml``); its path is the manifest's ``report``.
    """
    from toolkit.report.tml import write_tml_report
    from toolkit.tml.pipeline import make_submission
    from toolkit.tml.shadows import DEFAULT_BUDGET_MIN, MAX_SHADOWS, default_train_config
    from toolkit.views import parse_views

    recipe = track.scenarios[0].recipe
    params = dict(recipe.params) | ({"model": model} if model else {})
    start = time.perf_counter()
    manifest = make_submission(
        data_dir,
        out_dir or Path("submissions") / track.name,
        shadows,
        attack=recipe.attack,
        params=params,
        views=tuple(views or parse_views(track.views)),
        folds=folds,
        seed=seed,
        shadow_dir=shadow_dir,
        train_cfg=default_train_config(track.shadow or ShadowTraining(), seed, epochs),
        budget_s=60.0 * (DEFAULT_BUDGET_MIN if budget_min is None else budget_min),
        max_shadows=max_shadows or MAX_SHADOWS,
        match=match,
        cache_dir=cache_dir,
        jobs=jobs,
        run_name=run_name,
        track=track,
        progress=progress,
        log=log,
    )
    timings = {**manifest["seconds"], "submit": time.perf_counter() - start}
    return {**manifest, "report": str(write_tml_report(track, manifest, timings))}


@reads("data_dir", "views", "jobs", "cache_dir", "progress", "seed")
def run_submit(
    ctx: Context,
    *,
    shadows: int | None = None,
    budget_min: float | None = None,
    max_shadows: int | None = None,
    match: bool = False,
) -> str:
    """``mia submit`` for a tml track: ``submit_task`` with the command line's shadows, views, jobs and cache."""
    return format_validation(
        submit_task(
            ctx.track,
            ctx.data_dir,
            shadows=shadows,
            budget_min=budget_min,
            max_shadows=max_shadows,
            match=match,
            seed=ctx.seed,
            views=ctx.views,
            jobs=ctx.jobs,
            cache_dir=ctx.cache_dir,
            progress=ctx.progress,
        )
    )


COMMANDS = {"submit": run_submit}
