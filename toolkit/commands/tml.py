"""Commands of the ResNet18 public/private track: ``mia tml submit`` and ``mia upload``."""

from __future__ import annotations

from pathlib import Path

import click

from toolkit.commands.options import (
    cache_option,
    folds_option,
    jobs_option,
    out_option,
    seed_option,
    shadow_options,
)

__all__ = ["COMMANDS", "tml", "upload_cmd"]


@click.group()
def tml():
    """The ResNet18 public/private task, each edition a track (resnet18: 2025, tml26: 2026).

    \b
    Example:
      mia tml submit --data data/resnet18
    """


@tml.command("submit")
@click.option(
    "--track",
    "-t",
    "track_name",
    default="resnet18",
    show_default=True,
    help="A track of kind tml (a folder under tracks/, or your own).",
)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Task folder holding the track's files ([files]: 2025 pub.pt, priv_out.pt, 01_MIA.pt).",
)
@out_option("Where the CSV and its manifest go (default: submissions/<track>).", default=None)
@shadow_options(
    shadows="Shadow ResNet18s to use (even; 0 = none). Default: as many as --budget holds, reusing earlier ones.",
    budget="Minutes of shadow training when --shadows is not given (default 22; trained shadows count at their cost).",
    max_shadows="At most this many shadows within the budget (default 64).",
    match="First try a grid of epochs/lr (one pair of shadows each) and train with the one closest to the target.",
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
@folds_option(5, "Out-of-fold validation folds of the public set.")
@seed_option(help="Seed of the folds, shadows and attacks.")
@click.option("--run", "run_name", default=None, help="Run name (file stem); default: a timestamp.")
@click.option("--views", default=None, help="Query views, e.g. 'orig,flip,shift:2' (default: orig,flip).")
@jobs_option
@cache_option
def tml_submit(track_name, data_dir, views, jobs, cache_dir, seed, **options):
    """Train shadows, rank every attack out-of-fold on the public set, submit the first as an ids,score CSV.

    \b
    Example:
      mia tml submit --data data/resnet18 --budget 30 --run r1
      mia tml submit --data data/resnet18 --shadows 0      # no shadows: thresholds and stackers only
    """
    from toolkit.context import Context
    from toolkit.errors import ConfigError
    from toolkit.kinds import kind_module
    from toolkit.kinds import tml as tml_kind
    from toolkit.tml.report import format_validation
    from toolkit.tml.settings import TMLSettings
    from toolkit.tracks import load_track

    track = load_track(track_name)
    if kind_module(track) is not tml_kind:
        raise ConfigError(
            f"track {track.name!r} is of kind {track.kind}; mia tml submit takes a ResNet18-task track",
            f"mia submit --track {track.name}",
        )
    ctx = Context(track=track, data_dir=data_dir, views=views or None, jobs=jobs, cache_dir=cache_dir, seed=seed)
    man = tml_kind.submit_task(TMLSettings.from_context(ctx, **options), log=click.echo)
    click.echo(format_validation(man))


@click.command("upload")
@click.argument("csv_file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option(
    "--track", "-t", default="resnet18", show_default=True, help="Track: its [upload] protocol, its own cooldown."
)
@click.option(
    "--url", default=None, help="Server URL; the track's [upload] path is appended (default: $MIA_SERVER_URL)."
)
@click.option("--force", is_flag=True, help="Upload even within the cooldown the last upload started.")
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
    help="Task folder whose private file's ids the CSV must hold (default: the one its manifest names, else $DATA).",
)
@click.option("--no-id-check", is_flag=True, help="Send without checking the ids against the task (not advised).")
def upload_cmd(csv_file, track, url, force, timeout, ledger, data_dir, no_id_check):
    """POST a CSV to the scoring server in the track's [upload] protocol (key from $MIA_TOKEN); record it in the ledger.

    Before anything is sent, the CSV is checked: size, header, scores finite in [0, 1], and every
    private id of the task exactly once (the task folder from the manifest beside the CSV, --data or
    $DATA). The server's cooldowns (after a scored upload, after a failed one) come from the track.

    \b
    Example:
      MIA_TOKEN=… mia upload --track resnet18 submissions/resnet18/r1.csv --url http://host:9090/mia
      MIA_TOKEN=… mia upload --track tml26 submissions/tml26/r1.csv --url https://host   # + /submit/01-mia
    """
    from toolkit.task_format import Upload
    from toolkit.tml.upload import shown_reply, upload
    from toolkit.tracks import load_track

    spec = load_track(track)
    protocol = spec.upload or Upload()
    reply = upload(
        csv_file,
        track=spec,
        url=url,
        timeout=timeout,
        force=force,
        ledger=ledger,
        data_dir=data_dir,
        id_check=not no_id_check,
    )
    click.echo(shown_reply(reply, protocol.reply_keys))


COMMANDS = [tml, upload_cmd]
