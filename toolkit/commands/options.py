"""Options shared by several commands (defined once)."""

from __future__ import annotations

import os
from pathlib import Path

import click

__all__ = [
    "track_option",
    "data_option",
    "dataset_dir_option",
    "jobs_option",
    "views_option",
    "scheduler_option",
    "cache_option",
]

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
views_option = click.option("--views", default="orig", show_default=True, help="Query views, e.g. 'orig,flip,shift:2'.")
scheduler_option = click.option(
    "--scheduler", default=None, help="Dask scheduler address (tcp://host:8786) to run on a cluster."
)
cache_option = click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Outputs cache (default: $MIA_CACHE_DIR/outputs or .cache/outputs).",
)

# Each option is a decorator; say what it adds (``help()`` and the public-API test read these).
for _option, _doc in (
    (track_option, "Add ``--track/-t``: a track name (default demo)."),
    (data_option, "Add ``--data``: the organisers' files (default $DATA or ./data)."),
    (dataset_dir_option, "Add ``--dataset-dir``: where the public datasets live, if not under --data."),
    (jobs_option, "Add ``--jobs/-j``: parallel workers (default 1)."),
    (views_option, "Add ``--views``: query views such as 'orig,flip,shift:2'."),
    (scheduler_option, "Add ``--scheduler``: a Dask scheduler address to run on a cluster."),
    (cache_option, "Add ``--cache-dir``: the outputs cache."),
):
    _option.__doc__ = _doc
del _option, _doc
