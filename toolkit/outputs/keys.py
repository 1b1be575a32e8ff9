"""Content keys of cache entries: model file hash, ordered points, population fingerprint, views, precision.

A changed model, point set, population or view spec gets another key, so it can never be served a
stale array. File hashes are remembered by (path, size, mtime, ctime, inode) in
``<cache>/file_hashes.json`` (git's stat-cache idea), so a warm run stats files instead of reading them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from toolkit import io
from toolkit.errors import ConfigError, ContractError, DataError
from toolkit.io import atomic_write_bytes, sha256_bytes
from toolkit.models import default_device
from toolkit.outputs.task import CODE_VERSION, PRECISIONS, OutputTask, default_cache_dir
from toolkit.views import parse_views, views_label

__all__ = [
    "HASH_MEMO",
    "cache_key",
    "cache_path",
    "resolve_precision",
    "default_device",
    "population_of",
    "check_points",
    "content_key",
    "load_hash_memo",
    "save_hash_memo",
    "forget_populations",
]

_POPULATIONS: dict[tuple, object] = {}  # (dataset, data_dir, dataset_dir, options) -> Population, per get_outputs call


HASH_MEMO = "file_hashes.json"


def forget_populations() -> None:
    """Drop the populations read so far (each ``get_outputs`` call reads the files as they are then)."""
    _POPULATIONS.clear()


def load_hash_memo(cache_dir: Path) -> set[tuple]:
    """Fill the in-process memo from ``<cache>/file_hashes.json`` (git's stat-cache idea).

    A warm run then stats each model file instead of reading it. Returns the keys on disk.
    """
    try:
        rows = {tuple(row[:-1]): row[-1] for row in json.loads((cache_dir / HASH_MEMO).read_text())}
    except (FileNotFoundError, ValueError, TypeError):  # absent or damaged: hash the files again
        return set()
    io.FILE_HASHES.update(rows)
    return set(rows)


def save_hash_memo(cache_dir: Path, on_disk: set[tuple]) -> None:
    """Write the memo of file hashes back to ``<cache>/file_hashes.json`` when it learnt new ones."""
    if not on_disk.issuperset(io.FILE_HASHES):  # concurrent runs: last writer wins; a lost row costs a re-hash
        rows = [[*key, digest] for key, digest in io.FILE_HASHES.items()][-100_000:]
        atomic_write_bytes(cache_dir / HASH_MEMO, json.dumps(rows).encode())


def population_of(task: OutputTask, fingerprint: str | None = None):
    """The task's population, loaded once per ``get_outputs`` call (every task's key names it).

    ``fingerprint`` (a cluster worker, told the client's): reload if the kept copy differs (the
    files changed since), and fail if this machine's files still differ from the client's, since
    its logits would be cached under a key computed from other data.
    """
    from toolkit.data import load_population

    key = _pop_key(task)
    if key not in _POPULATIONS or (fingerprint and _POPULATIONS[key].fingerprint != fingerprint):
        _POPULATIONS[key] = load_population(
            task.dataset,
            task.data_dir and Path(task.data_dir),
            task.dataset_dir and Path(task.dataset_dir),
            options=task.dataset_options,
        )
    pop = _POPULATIONS[key]
    if fingerprint and pop.fingerprint != fingerprint:
        raise ConfigError(
            f"this worker reads other data for dataset {task.dataset!r} than the client "
            f"({pop.fingerprint} here, {fingerprint} there)",
            "make --data/--dataset-dir the same files at the same paths on every machine",
        )
    return pop


def check_points(task: OutputTask) -> None:
    """Every point of ``task`` indexes its population: a short or foreign dataset file is a one-line
    ``DataError`` naming it, never an ``IndexError`` from deep inside torch."""
    points = np.asarray(task.points)
    if points.ndim != 1 or not (points.size == 0 or np.issubdtype(points.dtype, np.integer)):
        raise ContractError(f"points of {task.model_path} must be int [n_points], got {points.dtype} {points.shape}")
    if points.size == 0:
        return
    pop = population_of(task)
    lo, hi = int(points.min()), int(points.max())
    if lo < 0 or hi >= len(pop):
        bad = lo if lo < 0 else hi
        raise DataError(
            f"{task.model_path} needs population point {bad} but dataset {task.dataset!r} "
            f"({pop.source or pop.fingerprint}) has {len(pop):,} points",
            "the dataset file is cut short or is not the one the track names",
        )


def resolve_precision(task: OutputTask, device: str = "cpu") -> str:
    """The arithmetic a task runs in on ``device``: reduced precision only for image models on CUDA."""
    if task.precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {task.precision!r}; valid: {', '.join(PRECISIONS)}")
    if task.precision != "auto":
        return task.precision
    images = population_of(task).inputs.ndim == 4
    return "bf16" if images and str(device).startswith("cuda") else "fp32"


def cache_key(task: OutputTask, precision: str | None = None) -> str:
    """The content key of a task's logits: model and population hashes, points, architecture, views, precision."""
    points = np.ascontiguousarray(task.points, dtype=np.int64)
    spec = {
        "model": io.file_hash(task.model_path),
        "points": sha256_bytes(points.tobytes()),
        "population": population_of(task).fingerprint,
        "architecture": task.architecture,
        "n_classes": task.n_classes,
        "views": views_label(parse_views(task.views)),
        "precision": precision or resolve_precision(task, default_device()),
        "code": CODE_VERSION,
    }
    return sha256_bytes(json.dumps(spec, sort_keys=True).encode())


def cache_path(task: OutputTask, cache_dir: Path | None = None, precision: str | None = None) -> Path:
    """Where a task's logits are cached: ``<cache>/<key[:2]>/<key>.npy``."""
    key = cache_key(task, precision)
    return Path(cache_dir or default_cache_dir()) / key[:2] / f"{key}.npy"


def _pop_key(task: OutputTask) -> tuple:
    return (task.dataset, task.data_dir, task.dataset_dir, task.dataset_options)


def content_key(task: OutputTask, device: str) -> tuple:
    """Memo key of the task's population on ``device``, by content: a changed file is loaded again."""
    return (population_of(task).fingerprint, str(device))
