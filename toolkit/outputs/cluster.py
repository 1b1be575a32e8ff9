"""The cluster path: the same per-model tasks, sent to an existing Dask distributed scheduler.

``mia outputs --scheduler tcp://host:8786`` (→ ``get_outputs(..., scheduler=...)``) and shadow
training hand their task lists to ``distributed.Client.map``; no home-made scheduler.

Where the files live (the choice, and why):
- Inputs are read by the workers at the paths the client names: model files, ``--data`` and
  ``--dataset-dir`` must be visible at the same paths on every worker (a shared filesystem, or the
  same copy everywhere), and the workers must have this package installed.
- Results travel back to the client, which writes them (cache entries, shadow weights) atomically.
  So the cache need not be shared, a worker that dies mid-write cannot leave a half entry, and the
  cache keys are computed once, by the client, exactly as a local run computes them: a cluster
  run and a local run write byte-identical caches.
Precision: the client resolves ``precision="auto"`` for its own device (fp32 on a CPU-only
client); set ``OutputTask.precision="bf16"`` to make GPU workers use half precision.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from toolkit.errors import ConfigError
from toolkit.io import atomic_save_npy, atomic_write_bytes
from toolkit.outputs.compute import compute_logits
from toolkit.outputs.keys import cache_path, resolve_precision
from toolkit.outputs.task import OutputTask

__all__ = ["run_on_cluster", "run_training_on_cluster"]


def _client(scheduler: str, timeout: str = "20s"):
    """A connected ``distributed.Client``; a clear error when dask is missing or the address is dead."""
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError("--scheduler needs Dask distributed", "pip install -e '.[cluster]'") from None
    try:
        return Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise ConfigError(
            f"cannot reach the Dask scheduler at {scheduler}: {type(exc).__name__}: {exc}",
            "start one with `dask scheduler` and workers with `dask worker <address>`",
        ) from None


def _remote_logits(task: OutputTask, precision: str, fingerprint: str | None = None) -> np.ndarray:
    """On a worker: the task's logits, after checking it reads the same data as the client."""
    from toolkit.outputs.keys import population_of

    population_of(task, fingerprint)
    return compute_logits(task, precision=precision)


def run_on_cluster(
    tasks: list[OutputTask],
    cache_dir: Path,
    scheduler: str,
    on_done: Callable[[], object] | None = None,
    *,
    paths: list[Path] | None = None,
    precisions: list[str] | None = None,
) -> list[Path]:
    """Compute ``tasks`` on the cluster at ``scheduler``; the client writes each entry; return paths.

    ``paths``/``precisions`` (from ``get_outputs``'s plan) spare re-hashing; by default they are
    computed here as a local run would (``resolve_precision`` for this machine's device).
    """
    from toolkit.outputs.keys import default_device, population_of

    if precisions is None:
        precisions = [resolve_precision(t, default_device()) for t in tasks]
    if paths is None:
        paths = [cache_path(t, cache_dir, p) for t, p in zip(tasks, precisions)]
    unique = {Path(p): (t, q) for t, p, q in zip(tasks, paths, precisions)}  # one entry, one computation
    if not unique:
        return []
    from distributed import as_completed

    with _client(scheduler) as client:
        # keys named after the entries: a task already running for another client is shared, not redone
        todo = list(unique.items())
        futures = client.map(
            _remote_logits,
            [t for _, (t, _) in todo],
            [q for _, (_, q) in todo],
            [population_of(t).fingerprint for _, (t, _) in todo],
            key=[f"mia-outputs-{p.stem}" for p, _ in todo],
        )
        where = {f.key: p for f, (p, _) in zip(futures, todo)}
        for fut, logits in as_completed(futures, with_results=True):
            atomic_save_npy(where[fut.key], logits)
            fut.release()  # the client holds at most the arrays not yet written
            if on_done:
                on_done()
    return [Path(p) for p in paths]


def run_training_on_cluster(
    tasks: list,
    scheduler: str,
    fn: Callable[[object], bytes],
    on_done: Callable[[], object] | None = None,
) -> list[Path]:
    """Run ``fn(task) -> weight bytes`` on the cluster for every task whose ``out_path`` is missing.

    The client writes each result atomically at ``task.out_path``, so a killed run resumes where it
    stopped. ``fn`` and the tasks must be picklable (module-level function, dataclass tasks).
    """
    todo = [t for t in tasks if not Path(t.out_path).exists()]
    if todo:
        from distributed import as_completed

        with _client(scheduler) as client:
            futures = client.map(fn, todo, pure=False)
            where = {f.key: Path(t.out_path) for f, t in zip(futures, todo)}
            for fut, data in as_completed(futures, with_results=True):
                atomic_write_bytes(where[fut.key], data)
                fut.release()
                if on_done:
                    on_done()
    return [Path(t.out_path) for t in tasks]
