"""``mia evaluate``: every registered attack on the validation splits, as one table."""

from __future__ import annotations

from pathlib import Path

import click

from toolkit.commands.dispatch import run_command
from toolkit.commands.options import (
    CommaList,
    attacks_option,
    cache_option,
    data_option,
    dataset_dir_option,
    folds_option,
    jobs_option,
    out_option,
    seed_option,
    track_option,
)

__all__ = ["COMMANDS", "evaluate"]


@click.command("evaluate")
@track_option
@data_option
@dataset_dir_option
@cache_option
@jobs_option
@attacks_option()
@click.option(
    "--scenarios", type=CommaList(), default=None, help="Comma-separated scenarios (default: all of the track)."
)
@folds_option(5)
@click.option(
    "--pooling",
    type=click.Choice(["rank", "raw"]),
    default="rank",
    show_default=True,
    help="Pool per-model ranks or the attacks' raw scores.",
)
@seed_option(help="Seed of the validation folds and of the attacks.")
@out_option("Writes <out>/<track>/evaluate.csv.", default=Path("runs"))
def evaluate(**params):
    """Compare attacks on the train-phase models (known membership): TPR at 0.1/1/10% FPR, AUC.

    \b
    Example:
      mia evaluate --track demo --attacks lira,rmia,hardness
    """
    run_command("evaluate", **params)


COMMANDS = [evaluate]
