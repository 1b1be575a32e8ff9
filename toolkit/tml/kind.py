"""The ``tml`` kind: the ResNet18 public/private task (one target, a labelled public set, ``ids,score`` CSV).

Its one stage is ``submit``: outputs, out-of-fold validation on the public set, the private scores
and the CSV, with the recipe and the shadow-training settings of the track's ``track.toml``.
"""

from __future__ import annotations

import time
from pathlib import Path

from toolkit.kinds import Context, reads
from toolkit.tracks import ShadowTraining, Track

__all__ = ["LEADERBOARD_FPR", "COMMANDS", "submit_task", "format_validation"]

LEADERBOARD_FPR = 0.05  # the task's server ranks by TPR at 5% FPR


def submit_task(
    track: Track,
    data_dir: Path,
    *,
    out_dir: Path | None = None,
    shadows: int = 0,
    epochs: int | None = None,
    shadow_dir: Path | None = None,
    model: str | None = None,
    folds: int = 5,
    seed: int = 0,
    run_name: str | None = None,
    views=("orig",),
    jobs: int = 1,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> dict:
    """The task's pipeline with the track's recipe; ``model``/``epochs`` override track.toml. Returns the manifest.

    The run's report goes beside the CSV (``toolkit.report.tml``); its path is the manifest's ``report``.
    """
    from toolkit.models import default_device
    from toolkit.models.training import TrainConfig
    from toolkit.report.tml import write_tml_report
    from toolkit.tml.pipeline import make_submission

    recipe = track.scenarios[0].recipe
    params = dict(recipe.params) | ({"model": model} if model else {})
    sh = track.shadow or ShadowTraining()
    cfg = TrainConfig(
        epochs=epochs or sh.epochs,
        batch_size=sh.batch_size,
        lr=sh.lr,
        optimizer=sh.optimizer,
        weight_decay=sh.weight_decay,
        seed=seed,
        device=default_device(),
    )
    start = time.perf_counter()
    manifest = make_submission(
        data_dir,
        out_dir or Path("submissions") / track.name,
        shadows,
        attack=recipe.attack,
        params=params,
        views=tuple(views),
        folds=folds,
        seed=seed,
        shadow_dir=shadow_dir,
        train_cfg=cfg if shadows else None,
        cache_dir=cache_dir,
        jobs=jobs,
        run_name=run_name,
        track_name=track.name,
        architecture=track.architecture,
        progress=progress,
    )
    timings = {"submit (outputs, validation, private scores, CSV)": time.perf_counter() - start}
    return {**manifest, "report": str(write_tml_report(track, manifest, timings))}


def format_validation(manifest: dict) -> str:
    """Each validated attack's figures on one line, then the files written (and the report, once there is one)."""
    lines = []
    for name, fig in manifest["validation"].items():
        board = fig["board_slice"]
        lines.append(
            f"{name:>10}: TPR@5%FPR {fig['tpr@5%fpr_strict']:.3f} (<=: {fig['tpr@5%fpr_inclusive']:.3f}) "
            f"AUC {fig['auc']:.3f}  board slice {board['mean']:.3f} ± {board['std']:.3f}"
        )
    lines.append(f"wrote {manifest['csv']} and {manifest['manifest']}")
    if manifest.get("report"):
        lines.append(f"report: {manifest['report']}")
    return "\n".join(lines)


@reads("data_dir", "views", "jobs", "cache_dir", "progress")
def run_submit(ctx: Context) -> str:
    """``mia submit`` for a tml track: ``submit_task`` with the command line's views, jobs and cache."""
    return format_validation(
        submit_task(ctx.track, ctx.data_dir, views=ctx.views, jobs=ctx.jobs, cache_dir=ctx.cache_dir)
    )


COMMANDS = {"submit": run_submit}
