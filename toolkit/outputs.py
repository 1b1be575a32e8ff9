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

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ConfigError, ModelError
from . import io
from .io import atomic_save_npy, atomic_write_bytes, sha256_bytes
from .views import apply_views, count_views, parse_views, views_label

__all__ = ["CODE_VERSION", "PRECISIONS", "OutputTask", "default_cache_dir", "cache_key", "cache_path", "get_outputs",
           "compute_logits", "resolve_precision", "load_output", "usable_cpus", "precision_agreement"]

# Bump when the way logits are computed changes (preprocessing, batching semantics, dtype).
CODE_VERSION = "outputs-v3"  # v3: image models run channels-last on CPU too, CPU image batches ≤ 128
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_STALE_TMP_S = 600  # a temporary file this old belongs to a killed run, not a running one
# Convolutions on a CPU: larger batches push the im2col working set out of cache (MICO CNN, one
# core: 871 images/s at 128 vs 640 at 512, channels-last; 540 vs 403 in NCHW).
CPU_IMAGE_BATCH = 128


def default_cache_dir() -> Path:
    return Path(os.environ.get("MIA_CACHE_DIR", ".cache")) / "outputs"


def usable_cpus() -> int:
    """Cores this process may run on (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS/Windows have no affinity call
        return os.cpu_count() or 1


@dataclass(frozen=True)
class OutputTask:
    """One model on one ordered point set.

    ``precision``: ``auto`` = bf16 autocast for image models on CUDA, fp32 otherwise; or force
    ``fp32``/``bf16``/``fp16``. The resolved precision is part of the cache key.
    """

    model_path: Path
    architecture: str
    n_classes: int
    dataset: str
    points: np.ndarray = field(compare=False)  # int64 population indices, in output row order
    views: tuple[str, ...] = ("orig",)
    data_dir: str | None = None
    dataset_dir: str | None = None
    batch_size: int = 1024
    precision: str = "auto"


# Per-process memos: a pipeline asks for the same keys several times (plan, then paths).
_RESIDENT: dict[tuple, object] = {}  # (population fingerprint, device) -> inputs tensor
_SKELETONS: dict[tuple, object] = {}  # (architecture, n_classes, device, channels_last, thread) -> model
_GATHERED: dict[tuple, tuple] = {}  # (population fingerprint, device) -> (points, inputs), the last set
_POPULATIONS: dict[tuple, object] = {}  # (dataset, data_dir, dataset_dir) -> Population, per get_outputs call


HASH_MEMO = "file_hashes.json"


def _load_hash_memo(cache_dir: Path) -> set[tuple]:
    """Fill the in-process memo from ``<cache>/file_hashes.json`` (git's stat-cache idea).

    A warm run then stats each model file instead of reading it. Returns the keys on disk.
    """
    try:
        rows = {tuple(row[:-1]): row[-1] for row in json.loads((cache_dir / HASH_MEMO).read_text())}
    except (FileNotFoundError, ValueError, TypeError):  # absent or damaged: hash the files again
        return set()
    io.FILE_HASHES.update(rows)
    return set(rows)


def _save_hash_memo(cache_dir: Path, on_disk: set[tuple]) -> None:
    if not on_disk.issuperset(io.FILE_HASHES):  # concurrent runs: last writer wins; a lost row costs a re-hash
        rows = [[*key, digest] for key, digest in io.FILE_HASHES.items()][-100_000:]
        atomic_write_bytes(cache_dir / HASH_MEMO, json.dumps(rows).encode())


def _population(task: OutputTask, fingerprint: str | None = None):
    """The task's population, loaded once per ``get_outputs`` call (every task's key names it).

    ``fingerprint`` (a cluster worker, told the client's): reload if the kept copy differs (the
    files changed since), and fail if this machine's files still differ from the client's, since
    its logits would be cached under a key computed from other data.
    """
    from .data import load_population

    key = _pop_key(task)
    if key not in _POPULATIONS or (fingerprint and _POPULATIONS[key].fingerprint != fingerprint):
        _POPULATIONS[key] = load_population(task.dataset, task.data_dir and Path(task.data_dir),
                                            task.dataset_dir and Path(task.dataset_dir))
    pop = _POPULATIONS[key]
    if fingerprint and pop.fingerprint != fingerprint:
        raise ConfigError(f"this worker reads other data for dataset {task.dataset!r} than the client "
                          f"({pop.fingerprint} here, {fingerprint} there)",
                          "make --data/--dataset-dir the same files at the same paths on every machine")
    return pop


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_precision(task: OutputTask, device: str = "cpu") -> str:
    """The arithmetic a task runs in on ``device``: reduced precision only for image models on CUDA."""
    if task.precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {task.precision!r}; valid: {', '.join(PRECISIONS)}")
    if task.precision != "auto":
        return task.precision
    images = _population(task).inputs.ndim == 4
    return "bf16" if images and str(device).startswith("cuda") else "fp32"


def cache_key(task: OutputTask, precision: str | None = None) -> str:
    points = np.ascontiguousarray(task.points, dtype=np.int64)
    spec = {
        "model": io.file_hash(task.model_path),
        "points": sha256_bytes(points.tobytes()),
        "population": _population(task).fingerprint,
        "architecture": task.architecture,
        "n_classes": task.n_classes,
        "views": views_label(parse_views(task.views)),
        "precision": precision or resolve_precision(task, _device()),
        "code": CODE_VERSION,
    }
    return sha256_bytes(json.dumps(spec, sort_keys=True).encode())


def cache_path(task: OutputTask, cache_dir: Path | None = None, precision: str | None = None) -> Path:
    key = cache_key(task, precision)
    return Path(cache_dir or default_cache_dir()) / key[:2] / f"{key}.npy"


def _pop_key(task: OutputTask) -> tuple:
    return (task.dataset, task.data_dir, task.dataset_dir)


def _content_key(task: OutputTask, device: str) -> tuple:
    """Memo key of the task's population on ``device``, by content: a changed file is loaded again."""
    return (_population(task).fingerprint, str(device))


def _resident_inputs(task: OutputTask, device: str):
    """The whole population as one tensor on ``device`` (zero-copy on CPU), made once per process."""
    import torch

    key = _content_key(task, device)
    if key not in _RESIDENT:
        _RESIDENT[key] = torch.from_numpy(np.ascontiguousarray(_population(task).inputs)).to(device)
    return _RESIDENT[key]


def _task_inputs(task: OutputTask, device: str):
    """The task's points, in order, as one tensor on ``device`` (image models: channels-last).

    A contiguous ascending range is a view of the resident population; any other point set is
    gathered once and kept (one per population and device) for the next task on the same points:
    reference models all run on the same challenge set, so each model's batches are plain slices.
    """
    import torch

    x_all = _resident_inputs(task, device)
    points = np.asarray(task.points, dtype=np.int64)
    key = _content_key(task, device)
    kept = _GATHERED.get(key)
    if kept is not None and np.array_equal(kept[0], points):
        return kept[1]
    if len(points) and np.array_equal(points, np.arange(points[0], points[0] + len(points))):
        x = x_all[points[0] : points[0] + len(points)]
    else:
        x = x_all.index_select(0, torch.as_tensor(points, device=device))
    if x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    _GATHERED[key] = (points.copy(), x)
    return x


def _load_weights(task: OutputTask, device: str, channels_last: bool):
    """The task's model: a per-process skeleton of its architecture with the task's weights copied in."""
    import torch

    from .models import build_model, load_state_dict

    # one skeleton per thread: Dask workers may run several tasks at once in one process
    key = (task.architecture, task.n_classes, str(device), channels_last, threading.get_ident())
    if key not in _SKELETONS:
        model = build_model(task.architecture, task.n_classes).to(device).eval()
        _SKELETONS[key] = model.to(memory_format=torch.channels_last) if channels_last else model
    model = _SKELETONS[key]
    try:
        model.load_state_dict(load_state_dict(task.model_path))
    except RuntimeError as exc:
        raise ModelError(f"{task.model_path} does not fit architecture {task.architecture!r}: "
                         f"{str(exc).splitlines()[0][:200]}") from None
    return model


def _autocast(device: str, precision: str):
    import contextlib

    import torch

    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=str(device).split(":")[0], dtype=dtype)


def compute_logits(task: OutputTask, device: str | None = None, precision: str | None = None) -> np.ndarray:
    """Run the task's model on its points: float32 [n_points, n_views, n_classes].

    Batches are ``task.batch_size`` points (× n_views images per forward pass); ``precision``
    defaults to ``resolve_precision(task, device)``.
    """
    import torch

    device = device or _device()
    precision = precision or resolve_precision(task, device)
    # A thread new to torch runs OpenMP at the machine's default width whatever get_num_threads()
    # reports: pinned here, worker threads (ours, Dask's) neither oversubscribe the cores nor sum
    # in another order than the main thread (the logits would differ in the last bit).
    torch.set_num_threads(torch.get_num_threads())
    x = _task_inputs(task, device)
    images = x.dim() == 4
    model = _load_weights(task, device, channels_last=images)  # channels-last pays on CPU and GPU alike
    batch = min(task.batch_size, CPU_IMAGE_BATCH) if images and not str(device).startswith("cuda") else task.batch_size
    views = parse_views(task.views)
    n_views = count_views(views)
    out = torch.empty((len(x), n_views, task.n_classes), dtype=torch.float32, device=device)
    with torch.inference_mode(), _autocast(device, precision):
        for start in range(0, len(x), batch):
            xb = apply_views(x[start : start + batch], views)  # [V, b, ...]
            b = xb.shape[1]
            xb = xb.flatten(0, 1)
            if images:
                xb = xb.contiguous(memory_format=torch.channels_last)
            out[start : start + b] = model(xb).float().view(n_views, b, -1).transpose(0, 1)
    return out.cpu().numpy()


def _sweep_stale(folders: set[Path]) -> None:
    """Remove temporary files that a killed run left (only old ones: a live run may own new ones)."""
    now = time.time()
    for folder in folders:
        for tmp in folder.glob(".*.tmp") if folder.is_dir() else ():
            try:
                if now - tmp.stat().st_mtime > _STALE_TMP_S:
                    tmp.unlink()
            except FileNotFoundError:  # another run cleaned it first
                pass


def _plan(tasks: list[OutputTask], cache_dir: Path) -> tuple[list[Path], list[tuple[OutputTask, Path, str]]]:
    """Every task's entry path, and the distinct entries still missing (task, path, precision)."""
    device = _device()
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
    (``toolkit.cluster``); the client writes the same cache.
    """
    from tqdm import tqdm

    cache_dir = Path(cache_dir or default_cache_dir())
    _POPULATIONS.clear()  # a new call sees the files as they are now
    _GATHERED.clear()
    on_disk = _load_hash_memo(cache_dir)
    paths, missing = _plan(tasks, cache_dir)
    _save_hash_memo(cache_dir, on_disk)
    _sweep_stale({p.parent for _, p, _ in missing})
    bar = tqdm(total=len(tasks), initial=len(tasks) - len(missing), desc="outputs", unit="model",
               disable=not progress, leave=False)
    try:
        if scheduler:
            from .cluster import run_on_cluster

            run_on_cluster([t for t, _, _ in missing], cache_dir, scheduler, on_done=bar.update,
                           paths=[p for _, p, _ in missing], precisions=[p for _, _, p in missing])
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
    import torch
    from concurrent.futures import ThreadPoolExecutor

    slots = threading.Semaphore(2 * jobs)
    writes = []

    def compute(task: OutputTask, path: Path, precision: str) -> None:
        slots.acquire()
        try:
            logits = compute_logits(task, precision=precision)
        except BaseException:
            slots.release()
            raise
        write = atomic_save_npy(path, logits, syncer=syncer)
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
                _task_inputs(missing[0][0], _device())  # made here, before the threads share it
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


def load_output(path: Path) -> np.ndarray:
    """A cached entry, memory-mapped (read-only)."""
    return np.load(path, mmap_mode="r")


def precision_agreement(ref: np.ndarray, test: np.ndarray, labels: np.ndarray, members: np.ndarray) -> dict[str, float]:
    """How much reduced-precision logits change what the attacks see, against fp32 ``ref``.

    ``ref``/``test`` float32 [n_points, n_views, C]; ``members`` bool [n_points]. Scores are the
    view-averaged LiRA logit-scaled confidence φ = log p_y − log(1 − p_y) (Carlini et al. 2022).
    Returns the largest logit and score differences and the largest change of any MICO scorer
    figure (TPR at FPR < x, AUC, MIA, accuracy) between the two score sets.
    """
    from .metrics import scorer_metrics
    from .signals import oriented

    s_ref = oriented("phi", np.asarray(ref, np.float64), labels).mean(-1)
    s_test = oriented("phi", np.asarray(test, np.float64), labels).mean(-1)
    m_ref = scorer_metrics(members.astype(np.int64), s_ref)
    m_test = scorer_metrics(members.astype(np.int64), s_test)
    return {
        "max_logit_diff": float(np.abs(np.asarray(ref, np.float64) - test).max()),
        "max_score_diff": float(np.abs(s_ref - s_test).max()),
        "max_metric_diff": max(abs(m_ref[k] - m_test[k]) for k in m_ref),
    }
