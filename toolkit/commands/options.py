"""Options shared by several commands (defined once), and the comma-list parameter type."""

from __future__ import annotations

import os
from pathlib import Path

import click

__all__ = [
    "CommaList",
    "track_option",
    "data_option",
    "dataset_dir_option",
    "jobs_option",
    "views_option",
    "scheduler_option",
    "cache_option",
    "quiet_option",
    "seed_option",
    "out_option",
    "folds_option",
    "attacks_option",
    "shadow_options",
]


class CommaList(click.ParamType):
    """``a,b,c`` → a tuple of ``item`` values (empty pieces dropped; ``''`` gives an empty tuple)."""

    name = "LIST"

    def __init__(self, item: type = str):
        self.item = item

    def convert(self, value, param, ctx):
        if isinstance(value, tuple | list):
            return tuple(value)
        try:
            return tuple(self.item(v.strip()) for v in str(value).split(",") if v.strip())
        except ValueError:
            self.fail(f"expected comma-separated {self.item.__name__} values, got {value!r}", param, ctx)


track_option = click.option(
    "--track", "-t", default="demo", show_default=True, help="Track name (a folder under tracks/)."
)
data_option = click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path),
    default=lambda: os.environ.get("DATA", "data"),
    show_default="$DATA or ./data",
    help="Folder holding the organisers' files (<task>/<scenario>/...).",
)
dataset_dir_option = click.option(
    "--dataset-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the public datasets live, if not beside the task folders under --data.",
)
jobs_option = click.option(
    "--jobs",
    "-j",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Parallel workers (threads that run models, processes that train them).",
)
views_option = click.option(
    "--views",
    default=None,
    show_default="the track's views: orig (resnet18: orig,flip)",
    help="Query views, e.g. 'orig,flip,shift:2'.",
)
scheduler_option = click.option(
    "--scheduler", default=None, help="Dask scheduler address (tcp://host:8786) to run on a cluster."
)
cache_option = click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Outputs cache (default: $MIA_CACHE_DIR/outputs or .cache/outputs).",
)
quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bar.")


def seed_option(default: int | None = 0, help: str = "Seed of every random choice of the run.", dest: str = "seed"):
    """Add ``--seed``: an integer seed (``dest`` names the parameter)."""
    return click.option("--seed", dest, type=int, default=default, show_default=default is not None, help=help)


def out_option(help: str, default: Path | None = Path("runs"), dest: str = "out_dir"):
    """Add ``--out``: the folder a command writes under."""
    return click.option(
        "--out", dest, type=click.Path(path_type=Path), default=default, show_default=default is not None, help=help
    )


def folds_option(default: int, help: str = "Validation folds of the train models."):
    """Add ``--folds``: at least 2."""
    return click.option("--folds", type=click.IntRange(2), default=default, show_default=True, help=help)


def attacks_option(
    default: str | None = None, help: str = "Comma-separated attack names (default: every registered one)."
):
    """Add ``--attacks/-a``: a comma list of attack names."""
    return click.option(
        "--attacks", "-a", type=CommaList(), default=default, show_default=default is not None, help=help
    )


def shadow_options(*, shadows: str, budget: str, max_shadows: str, match: str):
    """Add the ResNet18 task's shadow options ``--shadows``, ``--budget``, ``--max-shadows`` and ``--match``.

    Declared once for every command that has them; each command words their help (``mia submit``
    says which task they are for).
    """
    options = (
        click.option("--shadows", type=click.IntRange(0), default=None, help=shadows),
        click.option("--budget", "budget_min", type=click.FloatRange(0), default=None, help=budget),
        click.option("--max-shadows", type=click.IntRange(2), default=None, help=max_shadows),
        click.option("--match", is_flag=True, help=match),
    )

    def add(fn):
        for option in reversed(options):
            fn = option(fn)
        return fn

    return add


# Each option is a decorator; say what it adds (``help()`` and the public-API test read these).
for _option, _doc in (
    (track_option, "Add ``--track/-t``: a track name (default demo)."),
    (data_option, "Add ``--data``: the organisers' files (default $DATA or ./data)."),
    (dataset_dir_option, "Add ``--dataset-dir``: where the public datasets live, if not under --data."),
    (jobs_option, "Add ``--jobs/-j``: parallel workers (default 1)."),
    (views_option, "Add ``--views``: query views such as 'orig,flip,shift:2'."),
    (scheduler_option, "Add ``--scheduler``: a Dask scheduler address to run on a cluster."),
    (cache_option, "Add ``--cache-dir``: the outputs cache."),
    (quiet_option, "Add ``--quiet/-q``: no progress bar."),
):
    _option.__doc__ = _doc
del _option, _doc
