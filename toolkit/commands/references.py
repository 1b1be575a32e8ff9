"""``mia references``: reference models of our own, trained in the track's recipe and checked."""

from __future__ import annotations

import click

from toolkit.commands.dispatch import run_command
from toolkit.commands.options import (
    cache_option,
    data_option,
    dataset_dir_option,
    jobs_option,
    scheduler_option,
    track_option,
)

__all__ = ["COMMANDS", "references"]


@click.command("references")
@track_option
@data_option
@dataset_dir_option
@jobs_option
@scheduler_option
@cache_option
@click.option(
    "-n",
    "n_models",
    type=click.IntRange(2),
    default=None,
    help="References per scenario (even; default: [references] count).",
)
@click.option("-s", "--scenario", "scenarios", multiple=True, help="Only this scenario (repeatable; default: all).")
@click.option("--match", is_flag=True, help="Search epochs × lr for the recipe closest to the provided models first.")
@click.option(
    "--matched", is_flag=True, help="ddp: -n references per target, matched to its revealed training set (default 8)."
)
@click.option("--epochs", type=click.IntRange(1), default=None, help="Override [references] epochs.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None, help="Override [references] lr.")
@click.option("--len-training", type=click.IntRange(1), default=None, help="Override the rows per reference.")
def references(**params):
    """Train reference models in the track's own recipe; each challenge point IN for half of them.

    \b
    They are checked against the provided train-phase models (one-line verdict), registered under
    runs/<track>/references/, and used by every later `mia attack`/`mia submit` of the track
    (auto ranks each attack with and without them). Resumable: a re-run trains only what is missing;
    a larger -n keeps the first models.

    \b
    Examples:
      mia references --track purchase_shaped -n 64 -j 2
      mia references --track purchase100 --data /data/mico -s purchase100_inf -n 32 --match
      mia references --track purchase100 --data /data/mico --scheduler tcp://10.0.0.5:8786 -n 128
      mia references --track ddp --data /data/mico -s purchase100_ddp --matched -n 8
    """
    params["scenarios"] = list(params["scenarios"]) or None
    run_command("references", **params)


COMMANDS = [references]
