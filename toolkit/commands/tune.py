"""``mia tune``: Optuna studies on the validation split (see ``toolkit.tuning.study``)."""

from __future__ import annotations

import click

from toolkit.commands.dispatch import run_command
from toolkit.commands.options import (
    attacks_option,
    cache_option,
    data_option,
    dataset_dir_option,
    folds_option,
    jobs_option,
    quiet_option,
    seed_option,
    track_option,
    views_option,
)

__all__ = ["COMMANDS", "tune"]


@click.command("tune")
@track_option
@data_option
@dataset_dir_option
@cache_option
@views_option
@jobs_option
@click.option("--scenario", "-s", "scenarios", multiple=True, help="Scenario(s) to tune (default: all of the track's).")
@click.option(
    "--trials",
    "-n",
    type=click.IntRange(1),
    default=30,
    show_default=True,
    help="Trials this process adds to each scenario's study.",
)
@click.option(
    "--timeout", type=click.FloatRange(0, min_open=True), default=None, help="Stop each study after S seconds."
)
@click.option(
    "--storage",
    default=None,
    help="Optuna storage URL shared by workers, e.g. postgresql://user:pw@host/db "
    "(default: sqlite:///runs/<track>/tuning.db).",
)
@click.option(
    "--study", "study_name", default=None, help="Study name (default: <track>-<scenario>); one scenario only."
)
@attacks_option(help="Comma-separated attack families to search (default: every registered one).")
@click.option(
    "--heldout-fraction",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.2,
    show_default=True,
    help="Share of train models held out from tuning, to judge its result.",
)
@folds_option(4, "Tuning folds.")
@seed_option(help="Seed of the model split and the sampler.")
@click.option("--no-report", is_flag=True, help="Skip the PNG report.")
@quiet_option
def tune(no_report, **params):
    """Tune each scenario's recipe on train models whose membership is known, never on dev/final answers.

    Writes runs/<track>/tuned_recipes.json (used by `mia attack` / `mia submit`) and plots under
    runs/<track>/tuning/<scenario>/. A 20% share of the train models is held out: the tuned recipe
    replaces the default only if it is not worse there. -j runs trials in parallel threads; many
    processes pointed at one --storage share a study.

    \b
    Examples:
      mia tune --track demo --trials 30
      mia tune --track demo --scenario demo_inf --attacks hardness,lira --timeout 600
      mia tune --track cifar10 -s cifar10_inf --storage postgresql://mia:pw@db-host/mia   # on every worker
    """
    run_command("tune", report=not no_report, say=click.echo, **params)


COMMANDS = [tune]
