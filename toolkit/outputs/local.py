"""get_outputs: run every model on the points it needs, in parallel, cached by content.

This is the only place models are run. Each task (one model file on one ordered point set with one
view spec) yields float32 logits ``[n_points, n_views, n_classes]`` stored at
``<cache>/<key[:2]>/<key>.npy`` where the key is the SHA-256 of the model file's hash, the ordered
point indices, the population's fingerprint, the architecture, the views, the arithmetic precision
and ``CODE_VERSION``. A changed model, point set or view spec can never be served a stale array.
Entries are written to a hidden temporary file and renamed into place, so a killed run leaves whole
entries or none, and a re-run computes only the missing ones.

Speed follows airbench (Jordan 2024, cifar10-airbench): the population is made resident on the
device once per process, a task's point set is gathered once (and kept for the next model on the
same points), each batch is a slice of it and one forward pass under ``torch.inference_mode()``,
logits accumulate on the device and cross to numpy once per task. On a
GPU, image models run channels-last under bf16 autocast (``precision="auto"``); the logits are
still stored as float32. Per process, one model skeleton per architecture is built once and only
the weights are copied in per task (building and randomly initialising a CNN costs more than
loading its weights). Keys are computed once, in the calling thread, which hands each worker the
entry's path, so no worker re-hashes a model file; ``<cache>/file_hashes.json`` remembers file hashes by
(path, size, mtime, ctime, inode), so a warm run stats the model files instead of reading them.
``jobs > 1`` runs models in worker threads of this process, not spawned processes: torch
releases the GIL inside every operator, so threads scale like processes on compute-bound models
(2 cores, ``-j 2`` over ``-j 1``: MICO MLP 1.75× with threads against 0.25× with a spawn pool,
whose start-up of ~2 s per worker cost more than the work; MICO CNN 2.04× against 1.70×), they
share the one resident population and skeleton cache, and they start in microseconds.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from toolkit.errors import ContractError
from toolkit.io import atomic_save_npy, sweep_stale_temporaries
from toolkit.outputs import compute, keys
from toolkit.outputs.compute import compute_logits, task_inputs
from toolkit.outputs.keys import (
    cache_path,
    check_points,
    default_device,
    load_hash_memo,
    resolve_precision,
    save_hash_memo,
)
from toolkit.outputs.task import OutputTask, default_cache_dir, usable_cpus
from toolkit.signals import check_logits

__all__ = ["get_outputs", "load_output", "load_outputs"]


def _sweep_stale(folders: set[Path]) -> None:
    """Remove temporary files that a killed run left (only old ones: a live run may own new ones)."""
    sweep_stale_temporaries(folders)


def _plan(tasks: list[OutputTask], cache_dir: Path) -> tuple[list[Path], list[tuple[OutputTask, Path, str]]]:
    """Every task's entry path, and the distinct entries still missing (task, path, precision)."""
    device = default_device()
    for t in tasks:
        check_points(t)  # before any model runs: a short dataset stops the run with one line
    precisions = [resolve_precision(t, device) for t in tasks]
    paths = [cache_path(t, cache_dir, p) for t, p in zip(tasks, precisions)]
    missing: dict[Path, tuple] = {}
    for t, path, p in zip(tasks, paths, precisions):
        if path not in missing and not path.exists():
            missing[path] = (t, path, p)
    return paths, list(missing.values())


def get_outputs(
    tasks: list[OutputTask],
    *,
    jobs: int = 1,
    cache_dir: Path | None = None,
    progress: bool = True,
    scheduler: str | None = None,
) -> list[Path]:
    """Make sure every task's logits are cached; return their paths in task order.

    ``jobs`` worker threads share the usable cores, ``usable_cpus() // jobs`` torch threads each;
    ``jobs=1`` runs with torch's default threads. ``scheduler``
    (``tcp://host:port``) sends the missing tasks to a Dask distributed cluster instead
    (``toolkit.outputs.cluster``); the client writes the same cache.
    """
    from tqdm import tqdm

    cache_dir = Path(cache_dir or default_cache_dir())
    keys.forget_populations()  # a new call sees the files as they are now
    compute.forget_gathered()
    on_disk = load_hash_memo(cache_dir)
    paths, missing = _plan(tasks, cache_dir)
    save_hash_memo(cache_dir, on_disk)
    _sweep_stale({p.parent for _, p, _ in missing})
    bar = tqdm(
        total=len(tasks),
        initial=len(tasks) - len(missing),
        desc="outputs",
        unit="model",
        disable=not progress,
        leave=False,
    )
    try:
        if scheduler:
            from toolkit.outputs.cluster import run_on_cluster

            run_on_cluster(
                [t for t, _, _ in missing],
                cache_dir,
                scheduler,
                on_done=bar.update,
                paths=[p for _, p, _ in missing],
                precisions=[p for _, _, p in missing],
            )
        elif missing:
            _run_local(missing, max(1, min(jobs, len(missing))), bar.update)
    finally:
        bar.close()
    return paths


def _run_local(missing: list[tuple], jobs: int, on_done) -> None:
    """``jobs`` compute threads (just this one when ``jobs == 1``) and one thread that syncs entries.

    Each compute thread writes its entry's bytes; the fsync and rename, ~3 ms of waiting on the disk
    for a 4 MB array (a sixth of a small model's forward pass), run on the sync thread, so compute
    never waits on the disk and no extra thread competes for the cores. At most ``2 × jobs``
    entries wait to be synced, so memory stays bounded.
    """
    from concurrent.futures import ThreadPoolExecutor

    import torch

    slots = threading.Semaphore(2 * jobs)
    writes = []

    def compute(task: OutputTask, path: Path, precision: str) -> None:
        slots.acquire()
        try:
            _raise_failed_write(writes)  # a full disk stops the run here, not after every model has run
            logits = compute_logits(task, precision=precision)
            write = atomic_save_npy(path, logits, syncer=syncer)
        except BaseException:
            # a failed write gives its slot back too: otherwise the other workers wait on it forever
            slots.release()
            raise
        write.add_done_callback(lambda _: (slots.release(), on_done()))
        writes.append(write)

    before = torch.get_num_threads()
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="outputs-sync") as syncer:
            if jobs == 1:
                for item in missing:
                    compute(*item)
            else:
                torch.set_num_threads(max(1, usable_cpus() // jobs))  # each worker thread pins it
                task_inputs(missing[0][0], default_device())  # made here, before the threads share it
                with ThreadPoolExecutor(jobs, thread_name_prefix="outputs") as pool:
                    futures = [pool.submit(compute, *item) for item in missing]
                    try:
                        for fut in futures:
                            fut.result()
                    except BaseException:  # a bad model (or Ctrl-C) stops the run: start nothing new
                        pool.shutdown(wait=True, cancel_futures=True)
                        raise
        for write in writes:
            write.result()
    finally:
        torch.set_num_threads(before)


def _raise_failed_write(writes: list) -> None:
    """Raise the error of the first entry whose fsync or rename failed (on the sync thread)."""
    for write in list(writes):
        if write.done() and write.exception() is not None:
            raise write.exception()


def load_output(path: Path) -> np.ndarray:
    """A cached entry, memory-mapped read-only, checked as it is read back: float32
    ``[n_points, n_views, n_classes]``, finite (a damaged entry is an error, never fed to an attack)."""
    hint = "delete the entry and run `mia outputs` again"
    try:
        arr = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise ContractError(f"cached logits {path} cannot be read ({str(exc).splitlines()[0][:120]})", hint) from None
    if arr.dtype != np.float32:
        raise ContractError(f"cached logits {path} must be float32, got {arr.dtype}", hint)
    return check_logits(arr, f"cached logits {path}", ndim=3)


def load_outputs(paths: Sequence[Path], rows: np.ndarray | None = None) -> np.ndarray:
    """Several models' entries stacked models first: float32 ``[n_models, n_points, n_views, n_classes]``.

    ``rows`` (int indices) selects the same points of every entry.
    """
    arrays = [load_output(p) for p in paths]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ContractError(f"cached logits to stack differ in shape: {sorted(shapes)}")
    if rows is not None:
        return np.stack([np.asarray(a[rows]) for a in arrays])
    return np.stack([np.asarray(a) for a in arrays])
