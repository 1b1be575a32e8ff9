"""The pipeline's stages as commands: challenge build, outputs, attack, package, check, submit.

Each command parses its options and runs the command of the track's kind (``toolkit.kinds``).
"""

from __future__ import annotations

from pathlib import Path

import click

from toolkit.commands.dispatch import run_command
from toolkit.commands.options import (
    cache_option,
    data_option,
    dataset_dir_option,
    jobs_option,
    scheduler_option,
    seed_option,
    shadow_options,
    track_option,
    views_option,
)

__all__ = ["COMMANDS", "challenge", "challenge_build", "outputs", "attack", "package", "check", "submit_cmd"]


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


def _sizes(fn):
    for opt in (
        click.option("--final-models", type=int, default=None, help="Local tracks: final targets per scenario."),
        click.option("--dev-models", type=int, default=None, help="Local tracks: dev targets per scenario."),
        click.option(
            "--train-models",
            type=int,
            default=None,
            help="Local tracks: reference models per scenario (default: track.toml).",
        ),
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
@_sizes
@seed_option(None, "Master seed for every model's seed files (default: track.toml).", dest="build_seed")
def challenge_build(**params):
    """Train the models and write seeds, solutions and hidden answers under DATA.

    \b
    Example:
      mia challenge build --track demo --train-models 16 --dev-models 4 --final-models 4
    """
    run_command("challenge", **params)


@click.command("outputs")
@_common
def outputs(**params):
    """Run every model on the points it needs and cache the logits (content-addressed).

    \b
    Example:
      mia outputs --track demo -j 2
    """
    run_command("outputs", **params)


@click.command("attack")
@_common
def attack(**params):
    """Score every dev/final model with each scenario's recipe and the loss baseline.

    \b
    Example:
      mia attack --track demo
    """
    run_command("attack", **params)


@click.command("package")
@track_option
@data_option
@dataset_dir_option
@click.option("--baseline", is_flag=True, help="Package the loss-threshold baseline instead of the recipe.")
def package(**params):
    """Write prediction.csv files, the zip and manifest.json under submissions/<track>/<run>/.

    \b
    Example:
      mia package --track demo
    """
    run_command("package", **params)


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
def check(**params):
    """Check a submission zip against every scorer rule, then score it where answers are known.

    \b
    Examples:
      mia check submissions/demo/20260101-120000/demo.zip --track demo
      mia check my_edited.zip --track purchase100 --format-only
    """
    run_command("check", **params)


@click.command("submit")
@_common
@_sizes
@shadow_options(
    shadows="ResNet18 task: shadow models (even; 0 = none; default: as many as --budget holds).",
    budget="ResNet18 task: minutes of shadow training (default 22).",
    max_shadows="ResNet18 task: at most this many.",
    match="ResNet18 task: search epochs/lr for shadows like the target.",
)
def submit_cmd(**params):
    """Every stage, end to end: (build) → outputs → attack → package → check; prints the metrics.

    \b
    A ``kind = "tml"`` track (resnet18) runs ``mia tml submit``'s pipeline: shadows within a time
    budget, every candidate ranked on the public set, the first submitted. The local-track sizes
    (--train-models, …) are refused there, and the shadow options on a MICO track.

    \b
    Examples:
      mia submit --track demo -j 2
      mia submit --track resnet18 --data /path/to/task    # pub.pt, priv_out.pt, 01_MIA.pt
      mia submit --track tml26 --data /path/to/task       # 2026: pub.pt, priv.pt, model.pt
    """
    run_command("submit", **params)


COMMANDS = [challenge, outputs, attack, package, check, submit_cmd]
