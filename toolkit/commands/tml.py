"""Commands of the ResNet18 public/private track: ``mia tml submit`` and ``mia upload``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from toolkit.commands.options import cache_option, jobs_option, views_option

__all__ = ["COMMANDS", "tml", "upload_cmd"]


@click.group()
def tml():
    """The ResNet18 public/private task (pub.pt, priv_out.pt, one target model).

    \b
    Example:
      mia tml submit --data data/resnet18 --shadows 0
    """


@tml.command("submit")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Task folder holding pub.pt, priv_out.pt and the target's .pt file.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the CSV and its manifest go (default: submissions/resnet18).",
)
@click.option(
    "--shadows",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Shadow ResNet18s to train for LiRA/RMIA comparisons (even; 0 = none).",
)
@click.option(
    "--epochs", type=click.IntRange(1), default=None, help="Shadow training epochs (default: track.toml's [shadow])."
)
@click.option(
    "--shadow-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Shadow weights folder (resumable; default: <data>_shadows beside the task folder).",
)
@click.option(
    "--model",
    type=click.Choice(["rf", "lgbm", "mlp", "stack"]),
    default=None,
    help="Ensemble classifier (default: track.toml's recipe).",
)
@click.option("--folds", type=click.IntRange(2), default=5, show_default=True, help="Out-of-fold validation folds.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--run", "run_name", default=None, help="Run name (file stem); default: a timestamp.")
@views_option
@jobs_option
@cache_option
def tml_submit(data_dir, out_dir, shadows, epochs, shadow_dir, model, folds, seed, run_name, views, jobs, cache_dir):
    """Score the private set, validate out-of-fold on the public set, write ids,score CSV + manifest.

    \b
    Example:
      mia tml submit --data data/resnet18 --shadows 8 --epochs 20 --run mlp1
    """
    from toolkit.tml.kind import format_validation, submit_task
    from toolkit.tracks import load_track
    from toolkit.views import parse_views

    man = submit_task(
        load_track("resnet18"),
        data_dir,
        out_dir=out_dir,
        shadows=shadows,
        epochs=epochs,
        shadow_dir=shadow_dir,
        model=model,
        folds=folds,
        seed=seed,
        run_name=run_name,
        views=parse_views(views),
        jobs=jobs,
        cache_dir=cache_dir,
    )
    click.echo(format_validation(man))


@click.command("upload")
@click.argument("csv_file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--track", "-t", default="resnet18", show_default=True, help="Track (the cooldown is per track).")
@click.option("--url", default=None, help="Server URL (default: $MIA_SERVER_URL).")
@click.option("--force", is_flag=True, help="Upload even within the one-hour cooldown.")
@click.option(
    "--timeout", type=click.FloatRange(0.1), default=60.0, show_default=True, help="Seconds to wait for the reply."
)
@click.option(
    "--ledger", type=click.Path(path_type=Path), default=None, help="Ledger (default: submissions/ledger.jsonl)."
)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Task folder whose priv_out.pt ids the CSV must hold (default: the one its manifest names, else $DATA).",
)
@click.option("--no-id-check", is_flag=True, help="Send without checking the ids against the task (not advised).")
def upload_cmd(csv_file, track, url, force, timeout, ledger, data_dir, no_id_check):
    """POST an ids,score CSV to the scoring server (token from $MIA_TOKEN) and record it in the ledger.

    Before anything is sent, the CSV is checked: header, scores finite in [0, 1], and every private
    id of the task exactly once (the task folder from the manifest beside the CSV, --data or $DATA).

    \b
    Example:
      MIA_TOKEN=… mia upload --track resnet18 submissions/resnet18/mlp1.csv --url http://host:9090/mia
    """
    from toolkit.tml.upload import upload

    reply = upload(
        csv_file,
        track=track,
        url=url,
        timeout=timeout,
        force=force,
        ledger=ledger,
        data_dir=data_dir,
        id_check=not no_id_check,
    )
    click.echo(json.dumps(reply))


COMMANDS = [tml, upload_cmd]
