"""The pipeline's stages as commands: challenge build, outputs, attack, package, check, submit."""

from __future__ import annotations

from pathlib import Path

import click

from ..pipeline import (Context, format_table, stage_attack, stage_challenge, stage_check, stage_outputs,
                        stage_package, submit)
from ..tracks import load_track
from ..views import parse_views
from .options import cache_option, data_option, dataset_dir_option, jobs_option, scheduler_option, track_option, views_option


def _ctx(track, data_dir, dataset_dir=None, jobs=1, views="orig", cache_dir=None, scheduler=None) -> Context:
    return Context(load_track(track), Path(data_dir), dataset_dir, cache_dir, jobs, parse_views(views), scheduler)


def _common(fn):
    for opt in (cache_option, scheduler_option, views_option, jobs_option, dataset_dir_option, data_option, track_option):
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
    ctx = _ctx(track, data_dir, jobs=jobs)
    root = stage_challenge(ctx, train_models=train_models, dev_models=dev_models, final_models=final_models, seed=seed)
    if root is None:
        raise click.ClickException(f"track {track!r} comes from the organisers' files; nothing to build")
    click.echo(f"challenge ready: {root}  ({ctx.timings['challenge']:.1f} s)")


@click.command("outputs")
@_common
def outputs(track, data_dir, dataset_dir, jobs, views, scheduler, cache_dir):
    """Run every model on the points it needs and cache the logits (content-addressed).

    \b
    Example:
      mia outputs --track demo -j 2
    """
    ctx = _ctx(track, data_dir, dataset_dir, jobs, views, cache_dir, scheduler)
    done = stage_outputs(ctx)
    n = sum(len(v) for v in done.values())
    click.echo(f"outputs cached for {n} models over {len(done)} scenarios ({ctx.timings['outputs']:.1f} s)")


@click.command("attack")
@_common
def attack(track, data_dir, dataset_dir, jobs, views, scheduler, cache_dir):
    """Score every dev/final model with each scenario's recipe and the loss baseline.

    \b
    Example:
      mia attack --track demo
    """
    ctx = _ctx(track, data_dir, dataset_dir, jobs, views, cache_dir, scheduler)
    summary = stage_attack(ctx)
    click.echo(format_table(summary))


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
    ctx = _ctx(track, data_dir, dataset_dir)
    click.echo(stage_package(ctx, method="baseline" if baseline else "recipe"))


@click.command("check")
@click.argument("zip_path", type=click.Path(path_type=Path))
@track_option
@data_option
@dataset_dir_option
def check(zip_path, track, data_dir, dataset_dir):
    """Check a submission zip against every scorer rule, then score it where answers are known.

    \b
    Example:
      mia check submissions/demo/20260101-120000/demo.zip --track demo
    """
    ctx = _ctx(track, data_dir, dataset_dir)
    report = stage_check(ctx, zip_path)
    click.echo(f"{zip_path}: format OK")
    for scenario, phases in report.items():
        for phase, m in phases.items():
            click.echo(f"  {scenario:<18}{phase:<7}" + "  ".join(f"{k}={v:.4f}" for k, v in m.items()))


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
    if load_track(track).kind == "tml":  # one target, a CSV: the ResNet18 task's own pipeline, with its defaults
        from .tml import tml_submit

        return click.get_current_context().invoke(tml_submit, data_dir=data_dir, views=views, jobs=jobs,
                                                  cache_dir=cache_dir)
    ctx = _ctx(track, data_dir, dataset_dir, jobs, views, cache_dir, scheduler)
    zip_path, summary, table = submit(ctx, train_models=train_models, dev_models=dev_models, final_models=final_models)
    click.echo(table)
    click.echo("")
    click.echo("stage seconds: " + ", ".join(f"{k}={v:.1f}" for k, v in ctx.timings.items()))
    click.echo(f"submission: {zip_path}")


COMMANDS = [challenge, outputs, attack, package, check, submit_cmd]
