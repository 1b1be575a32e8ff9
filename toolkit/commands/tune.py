"""``mia tune``: Optuna studies on the validation split (see ``toolkit.tuning.study``)."""

from __future__ import annotations

from pathlib import Path

import click

from toolkit.commands.options import (
    cache_option,
    data_option,
    dataset_dir_option,
    jobs_option,
    track_option,
    views_option,
)
from toolkit.mico.pipeline import Context
from toolkit.tracks import load_track
from toolkit.tuning.space import parse_attacks
from toolkit.tuning.study import tune as tune_track
from toolkit.views import parse_views

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
@click.option(
    "--attacks", default=None, help="Comma-separated attack families to search (default: every registered one)."
)
@click.option(
    "--heldout-fraction",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.2,
    show_default=True,
    help="Share of train models held out from tuning, to judge its result.",
)
@click.option("--folds", "n_folds", type=click.IntRange(2), default=4, show_default=True, help="Tuning folds.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the model split and the sampler.")
@click.option("--no-report", is_flag=True, help="Skip the PNG report.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def tune(
    track,
    data_dir,
    dataset_dir,
    cache_dir,
    views,
    jobs,
    scenarios,
    trials,
    timeout,
    storage,
    study_name,
    attacks,
    heldout_fraction,
    n_folds,
    seed,
    no_report,
    quiet,
):
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
    ctx = Context(
        load_track(track),
        Path(data_dir),
        dataset_dir,
        cache_dir,
        jobs,
        parse_views(views),
        progress=not quiet,
        seed=seed,
    )
    tune_track(
        ctx,
        list(scenarios) or None,
        say=click.echo,
        trials=trials,
        timeout=timeout,
        storage=storage,
        study_name=study_name,
        attacks=parse_attacks(attacks),
        jobs=jobs,
        heldout_fraction=heldout_fraction,
        n_folds=n_folds,
        report=not no_report,
    )


COMMANDS = [tune]
