"""What get_outputs runs: one model file on one ordered point set, and where its entries live."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["CODE_VERSION", "PRECISIONS", "CPU_IMAGE_BATCH", "OutputTask", "default_cache_dir", "usable_cpus"]

# Bump when the way logits are computed changes (preprocessing, batching semantics, dtype).
CODE_VERSION = "outputs-v3"  # v3: image models run channels-last on CPU too, CPU image batches ≤ 128
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_STALE_TMP_S = 600  # a temporary file this old belongs to a killed run, not a running one
# Convolutions on a CPU: larger batches push the im2col working set out of cache (MICO CNN, one
# core: 871 images/s at 128 vs 640 at 512, channels-last; 540 vs 403 in NCHW).
CPU_IMAGE_BATCH = 128


def default_cache_dir() -> Path:
    """``$MIA_CACHE_DIR/outputs`` (default ``.cache/outputs``)."""
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
    dataset_options: object = None  # hashable settings the dataset's loader takes (a tml task's TaskLayout)
