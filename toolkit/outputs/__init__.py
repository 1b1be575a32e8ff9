"""get_outputs: every model run on the points it needs, in parallel, cached by content.

The only place models are run. ``task`` says what a task is, ``keys`` how its cache entry is
named, ``compute`` how its logits are computed, ``local`` how tasks are spread over threads and
written, ``cluster`` how they go to a Dask scheduler instead.
"""

from toolkit.outputs.compute import compute_logits, precision_agreement
from toolkit.outputs.keys import cache_key, cache_path, resolve_precision
from toolkit.outputs.local import get_outputs, load_output, load_outputs
from toolkit.outputs.task import CODE_VERSION, PRECISIONS, OutputTask, default_cache_dir, usable_cpus

__all__ = [
    "CODE_VERSION",
    "PRECISIONS",
    "OutputTask",
    "default_cache_dir",
    "cache_key",
    "cache_path",
    "get_outputs",
    "compute_logits",
    "resolve_precision",
    "load_output",
    "load_outputs",
    "usable_cpus",
    "precision_agreement",
]
