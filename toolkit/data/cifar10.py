"""CIFAR-10 in MICO's order: torchvision's ``cifar-10-batches-py`` batches 1–5, then ``test_batch``.

The batches are Python-2 pickles; they are read by an unpickler that knows only the numpy
globals an array needs, so a doctored batch file cannot run code. Images are scaled to [0, 1]
and normalised with the organisers' per-channel mean/std (no augmentation). The normalised
array is cached once per content hash.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np

from toolkit.data import Population, cached_arrays, files_hash, first_existing, register_dataset
from toolkit.errors import FormatError, one_line
from toolkit.io import read_bounded

__all__ = ["BATCHES", "MEAN", "STD", "read_batch", "load_cifar10"]

BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")
MEAN = (0.49139968, 0.48215841, 0.44653091)
STD = (0.24703223, 0.24348513, 0.26158784)
ORIGIN = (
    "torchvision's cifar-10-batches-py folder (https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz), "
    "unpacked under DATA/cifar10/ or named with --dataset-dir"
)

_RECONSTRUCT = np.ndarray(0).__reduce__()[0]
MAX_BATCH_BYTES = 256 * 1024 * 1024  # an organiser batch is ~31 MB
_DTYPES = {"u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8", "f4", "f8", "b1"}  # plain numbers: never object arrays


class _NDArray:
    """What the pickle's ``numpy.ndarray`` global becomes: a token ``_reconstruct`` accepts, never called."""


def _safe_reconstruct(subtype, shape, dtype):
    """numpy's ``_reconstruct`` as pickles of arrays call it: an empty ndarray that BUILD then fills.

    Any other call (another class, a real shape that would allocate before BUILD checks the data)
    is refused: a doctored batch cannot make numpy allocate terabytes or build other objects.
    """
    if subtype is not _NDArray or tuple(shape) != (0,) or dtype not in (b"b", "b"):
        raise pickle.UnpicklingError("numpy _reconstruct called with other arguments than an array pickle uses")
    return _RECONSTRUCT(np.ndarray, (0,), b"b")


def _safe_dtype(spec, align=False, copy=False):
    """``numpy.dtype`` for the plain numeric codes an array pickle names (``'u1'`` for CIFAR's pixels)."""
    if not isinstance(spec, str) or spec not in _DTYPES:
        raise pickle.UnpicklingError(f"numpy dtype {spec!r:.40} is not a plain numeric type")
    return np.dtype(spec, bool(align), bool(copy))


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy", "ndarray"): _NDArray,
    ("numpy", "dtype"): _safe_dtype,
}


class _BatchUnpickler(pickle.Unpickler):
    """Knows only the globals an array pickle needs; ``path`` names the file in its refusals."""

    def __init__(self, file, path: Path, **kwargs):
        super().__init__(file, **kwargs)
        self.path = path

    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except (KeyError, TypeError):
            raise FormatError(
                f"{self.path}: global {one_line(module, 60)}.{one_line(name, 60)} is not allowed in a CIFAR-10 batch",
                "the file is not an organiser batch; re-download cifar-10-python.tar.gz",
            ) from None


def _unpickle_batch(path: Path):
    """The batch's object, read into memory first (bounded) so that no length in the stream is trusted."""
    too_long = f"{path} is over {MAX_BATCH_BYTES:,} bytes, not a CIFAR-10 batch"
    raw = read_bounded(path, MAX_BATCH_BYTES, lambda: FormatError(too_long, ORIGIN))
    try:
        return _BatchUnpickler(io.BytesIO(raw), path, encoding="latin1").load()
    except FormatError:
        raise
    except Exception as exc:  # pickle and numpy raise many types on a damaged stream
        raise FormatError(
            f"{path} is not a readable CIFAR-10 batch ({type(exc).__name__}: {one_line(exc, 100)})", ORIGIN
        ) from None


def _labels(labels, n: int, path: Path) -> np.ndarray:
    """int64 [n] labels in 0..9, or a FormatError naming the rule."""
    try:
        out = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        out = None
    if out is None or out.shape != (n,):
        raise FormatError(f"{path}: 'labels' must hold one integer label per row of 'data' ({n})")
    if n and (out.min() < 0 or out.max() > 9):
        raise FormatError(f"{path}: 'labels' must lie in 0..9, found {out.min() if out.min() < 0 else out.max()}")
    return out


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 [n, 3072] rows of 3 planes of 32×32, int64 labels [n]) from one pickled batch."""
    batch = _unpickle_batch(Path(path))
    if not isinstance(batch, dict):
        raise FormatError(f"{path} holds a {type(batch).__name__}, expected a dict with 'data' and 'labels'")
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    data, labels = batch.get("data"), batch.get("labels")
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3072 or data.dtype != np.uint8:
        shape = getattr(data, "shape", None)
        raise FormatError(
            f"{path}: 'data' must be a uint8 array [n, 3072], found shape {shape} dtype {getattr(data, 'dtype', None)}"
        )
    return data, _labels(labels, len(data), path)


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
    return Population(x, y, f"cifar10:{digest[:16]}", str(folder))
