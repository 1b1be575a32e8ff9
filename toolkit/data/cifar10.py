"""CIFAR-10 in MICO's order: torchvision's ``cifar-10-batches-py`` batches 1–5, then ``test_batch``.

The batches are Python-2 pickles; they are read by an unpickler that knows only the numpy
globals an array needs, so a doctored batch file cannot run code. Images are scaled to [0, 1]
and normalised with the organisers' per-channel mean/std (no augmentation). The normalised
array is cached once per content hash.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from toolkit.errors import FormatError
from toolkit.data import Population, cached_arrays, files_hash, first_existing, register_dataset

__all__ = ["BATCHES", "MEAN", "STD", "read_batch", "load_cifar10"]

BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")
MEAN = (0.49139968, 0.48215841, 0.44653091)
STD = (0.24703223, 0.24348513, 0.26158784)
ORIGIN = ("torchvision's cifar-10-batches-py folder (https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz), "
          "unpacked under DATA/cifar10/ or named with --dataset-dir")

_RECONSTRUCT = np.ndarray(0).__reduce__()[0]
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise FormatError(f"global {module}.{name} is not allowed in a CIFAR-10 batch",
                              "the file is not an organiser batch; re-download cifar-10-python.tar.gz") from None


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 [n, 3072] rows of 3 planes of 32×32, int64 labels [n]) from one pickled batch."""
    try:
        with open(path, "rb") as f:
            batch = _BatchUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise FormatError(f"{path} is not a readable CIFAR-10 batch ({exc})", ORIGIN) from None
    if not isinstance(batch, dict):
        raise FormatError(f"{path} holds a {type(batch).__name__}, expected a dict with 'data' and 'labels'")
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    data, labels = batch.get("data"), batch.get("labels")
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", None)
        raise FormatError(f"{path}: 'data' must be a uint8 array [n, 3072], found shape {shape}")
    if labels is None or len(labels) != len(data):
        raise FormatError(f"{path}: 'labels' must hold one label per row of 'data' ({len(data)})")
    return data.astype(np.uint8, copy=False), np.asarray(labels, dtype=np.int64)


def batches_folder(data_dir: Path | None, dataset_dir: Path | None) -> Path:
    if dataset_dir is not None:
        candidates = [dataset_dir / "cifar-10-batches-py", dataset_dir]
    else:
        root = data_dir or Path("data")
        candidates = [root / "cifar10" / "cifar-10-batches-py", root / "cifar-10-batches-py"]
    return first_existing([c / BATCHES[0] for c in candidates], "CIFAR-10 batch", ORIGIN).parent


@register_dataset("cifar10")
def load_cifar10(data_dir: Path | None = None, dataset_dir: Path | None = None) -> Population:
    """60,000 normalised images float32 [N, 3, 32, 32] (train batches then test) and their labels."""
    folder = batches_folder(data_dir, dataset_dir)
    files = [first_existing([folder / name], "CIFAR-10 batch", ORIGIN) for name in BATCHES]
    digest = files_hash(files)

    def parse():
        rows, labels = zip(*(read_batch(p) for p in files))
        x = np.concatenate(rows).reshape(-1, 3, 32, 32).astype(np.float32) / 255.0
        x -= np.asarray(MEAN, np.float32).reshape(1, 3, 1, 1)
        x /= np.asarray(STD, np.float32).reshape(1, 3, 1, 1)
        return x, np.concatenate(labels)

    x, y = cached_arrays(f"cifar10-{digest[:16]}", parse)
    return Population(x, y, f"cifar10:{digest[:16]}")
