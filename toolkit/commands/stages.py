"""The pipeline's stages as commands: challenge build, outputs, attack, package, check, submit.

Each command parses its options and runs the stage of the track's kind (``toolkit.kinds``).
"""

from __future__ import annotations

from pathlib import Path

import click

from toolkit.commands.options import (
    cache_option,
    data_option,
    dataset_dir_option,
    jobs_option,
    scheduler_option,
    track_option,
    views_option,
)
from toolkit.kinds import StageOptions, stage
from toolkit.tracks import load_track
from toolkit.views import parse_views

__all__ = ["COMMANDS", "challenge", "challenge_build", "outputs", "attack", "package", "check", "submit_cmd"]


def _run(
    name: str, track: str, data_dir, dataset_dir=None, jobs=1, views="orig", cache_dir=None, scheduler=None, **extra
) -> None:
    t = load_track(track)
    opts = StageOptions(Path(data_dir), dataset_dir, jobs, parse_views(views), cache_dir, scheduler, extra)
    click.echo(stage(t, name)(t, opts))


def _common(fn):
    for opt in (
        cache_option,
        scheduler_option,
        views_option,
        jobs_option,
        dataset_dir_option,
        data_option,
        track_option,
    ):
        fn = opt(fn)
    return fn


@click.group()
def challenge():
    """Local challenges in the MICO organisers' layout.

    \b
    Example:
      mia challenge build --track demo -j 2
    """


@challenge.command("build")
@track_option
@data_option
@jobs_option
@click.option("--train-models", type=int, default=None, help="Reference models per scenario (default: track.toml).")
@click.option("--dev-models", type=int, default=None, help="Dev-phase targets per scenario.")
@click.option("--final-models", type=int, default=None, help="Final-phase targets per scenario.")
@click.option("--seed", type=int, default=None, help="Master seed for every model's seed files.")
def challenge_build(track, data_dir, jobs, train_models, dev_models, final_models, seed):
    """Train the models and write seeds, solutions and hidden answers under DATA.

    \b
    Example:
      mia challenge build --track demo --train-models 16 --dev-models 4 --final-models 4
    """
    _run(
        "challenge",
        track,
        data_dir,
        jobs=jobs,
        train_models=train_models,
        dev_models=dev_models,
        final_models=final_models,
        seed=seed,
    )


@click.command("outputs")
@_common
def outputs(track, data_dir, dataset_dir, jobs, views, scheduler, cache_dir):
    """Run every model on the points it needs and cache the logits (content-addressed).

    \b
    Example:
      mia outputs --track demo -j 2
    """
    _run("outputs", track, data_dir, dataset_dir, jobs, views, cache_dir, scheduler)


@click.command("attack")
@_common
def attack(track, data_dir, dataset_dir, jobs, views, scheduler, cache_dir):
    """Score every dev/final model with each scenario's recipe and the loss baseline.

    \b
    Example:
      mia attack --track demo
    """
    _run("attack", track, data_dir, dataset_dir, jobs, views, cache_dir, scheduler)


@click.command("package")
@track_option
@data_option
@dataset_dir_option
@click.option("--baseline", is_flag=True, help="Package the loss-threshold baseline instead of the recipe.")
def package(track, data_dir, dataset_dir, baseline):
    """Write prediction.csv files, the zip and manifest.json under submissions/<track>/<run>/.

    \b
    Example:
      mia package --track demo
    """
    _run("package", track, data_dir, dataset_dir, baseline=baseline)


@click.command("check")
@click.argument("zip_path", type=click.Path(path_type=Path))
@track_option
@data_option
@dataset_dir_option
@click.option(
    "--format-only",
    is_flag=True,
    help="Check the scorer's format rules only (no challenge folders at hand to know the model ids).",
)
def check(zip_path, track, data_dir, dataset_dir, format_only):
    """Check a submission zip against every scorer rule, then score it where answers are known.

    \b
    Examples:
      mia check submissions/demo/20260101-120000/demo.zip --track demo
      mia check my_edited.zip --track purchase100 --format-only
    """
    _run("check", track, data_dir, dataset_dir, zip_path=zip_path, format_only=format_only)


@click.command("submit")
@_common
@click.option("--train-models", type=int, default=None, help="Local tracks: reference models per scenario.")
@click.option("--dev-models", type=int, default=None, help="Local tracks: dev targets per scenario.")
@click.option("--final-models", type=int, default=None, help="Local tracks: final targets per scenario.")
def submit_cmd(track, data_dir, dataset_dir, jobs, views, scheduler, cache_dir, train_models, dev_models, final_models):
    """Every stage, end to end: (build) → outputs → attack → package → check; prints the metrics.

    \b
    A ``kind = "tml"`` track (resnet18) runs ``mia tml submit`` with its defaults instead.

    \b
    Examples:
      mia submit --track demo -j 2
      mia submit --track resnet18 --data /path/to/task    # pub.pt, priv_out.pt, 01_MIA.pt
    """
    sizes = {
        k: v
        for k, v in dict(train_models=train_models, dev_models=dev_models, final_models=final_models).items()
        if v is not None
    }
    _run("submit", track, data_dir, dataset_dir, jobs, views, cache_dir, scheduler, **sizes)


COMMANDS = [challenge, outputs, attack, package, check, submit_cmd]
