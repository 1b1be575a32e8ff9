"""``mia evaluate``: every registered attack on the validation splits, as one table."""

from __future__ import annotations

from pathlib import Path

import click

from toolkit.commands.options import cache_option, data_option, dataset_dir_option, jobs_option, track_option

__all__ = ["COMMANDS", "evaluate"]


@click.command("evaluate")
@track_option
@data_option
@dataset_dir_option
@cache_option
@jobs_option
@click.option("--attacks", "-a", default=None, help="Comma-separated attack names (default: every registered one).")
@click.option("--scenarios", default=None, help="Comma-separated scenarios (default: all of the track).")
@click.option("--folds", type=click.IntRange(2), default=5, show_default=True, help="Validation folds of train models.")
@click.option(
    "--pooling",
    type=click.Choice(["rank", "raw"]),
    default="rank",
    show_default=True,
    help="Pool per-model ranks or the attacks' raw scores.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=Path("runs"),
    show_default=True,
    help="Writes <out>/<track>/evaluate.csv.",
)
def evaluate(track, data_dir, dataset_dir, cache_dir, jobs, attacks, scenarios, folds, pooling, seed, out_dir):
    """Compare attacks on the train-phase models (known membership): TPR at 0.1/1/10% FPR, AUC.

    \b
    Example:
      mia evaluate --track demo --attacks lira,rmia,hardness
    """
    from toolkit.studies.evaluate import evaluate_track

    split = lambda s: [x.strip() for x in s.split(",") if x.strip()] if s else None
    table = evaluate_track(
        track,
        data_dir,
        attacks=split(attacks),
        scenarios=split(scenarios),
        n_folds=folds,
        seed=seed,
        pooling=pooling,
        cache_dir=cache_dir,
        dataset_dir=dataset_dir,
        jobs=jobs,
        out_dir=out_dir,
        progress=True,
    )
    shown = table.drop(columns=["error"]) if not table["error"].any() else table
    click.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    click.echo(f"written: {Path(out_dir) / track / 'evaluate.csv'}")


COMMANDS = [evaluate]
