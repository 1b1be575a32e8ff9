"""Populations by name: every dataset a track can name, read from the files the user already has.

A ``Population`` is the track's whole point set in its fixed order (MICO: the organisers' order;
resnet18: ``pub.pt`` then ``priv_out.pt``): ``inputs`` as the model takes them, ``labels`` int64,
and a ``fingerprint`` that changes whenever the underlying files change, so that the outputs cache
can never serve logits computed on other data. Nothing is downloaded: a missing file gets a
``DataError`` that names the path expected and where the file comes from.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toolkit.errors import DataError
from toolkit.registry import Registry

__all__ = [
    "Population",
    "register_dataset",
    "dataset_names",
    "load_population",
    "dataset_cache_dir",
    "cached_arrays",
    "files_hash",
    "first_existing",
]

_MODULES = ("demo", "cifar10", "purchase100", "purchase_shaped", "sst2", "tml")
_LOADERS = Registry("dataset", lambda: [f"{__name__}.{m}" for m in _MODULES])


@dataclass(frozen=True, eq=False)
class Population:
    """``inputs`` [N, ...] (float32 images/features or int64 token ids), ``labels`` int64 [N];
    ``source`` the file or folder it was read from (for errors that must name it)."""

    inputs: np.ndarray
    labels: np.ndarray
    fingerprint: str
    source: str = ""

    def __post_init__(self):
        if len(self.inputs) != len(self.labels):
            raise DataError(f"population {self.fingerprint}: {len(self.inputs)} inputs but {len(self.labels)} labels")
        object.__setattr__(self, "labels", np.asarray(self.labels, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.labels)


def register_dataset(name: str):
    """Decorator: ``loader(data_dir=None, dataset_dir=None) -> Population`` under ``name`` (registered once).

    A loader that reads files laid out by a track's settings (the tml task's ``[files]``) also takes
    ``options=``, a hashable value that ``load_population`` passes on when it is given."""
    return _LOADERS.register(name)


def dataset_names() -> list[str]:
    """Every registered dataset's name, sorted."""
    return _LOADERS.names()


def load_population(
    name: str, data_dir: Path | str | None = None, dataset_dir: Path | str | None = None, *, options=None
) -> Population:
    """The population ``name`` from ``data_dir`` (the track's DATA folder) or ``dataset_dir`` (the files' own
    folder); ``options`` (where not None) go to the loader as they are."""
    where = {
        "data_dir": Path(data_dir) if data_dir else None,
        "dataset_dir": Path(dataset_dir) if dataset_dir else None,
    }
    return _LOADERS.get(name)(**where, **({} if options is None else {"options": options}))


def dataset_cache_dir() -> Path:
    """Where parsed copies of slow-to-read files live: ``$MIA_CACHE_DIR/datasets`` (default ``.cache``)."""
    return Path(os.environ.get("MIA_CACHE_DIR", ".cache")) / "datasets"


def cached_arrays(key: str, parse: Callable[[], tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, labels) from ``datasets/<key>/`` or, on a miss, from ``parse()``, then stored atomically.

    ``key`` carries a hash of the source files, so an edited file can never be served a stale copy.
    """
    from toolkit.io import atomic_save_npy

    folder = dataset_cache_dir() / key
    xs, ys = folder / "inputs.npy", folder / "labels.npy"
    if xs.is_file() and ys.is_file():
        try:
            return np.load(xs, mmap_mode="c"), np.load(ys)  # copy-on-write: writable for torch, pages shared
        except (ValueError, OSError):
            pass  # a damaged entry: parse again and replace it
    x, y = parse()
    atomic_save_npy(ys, np.asarray(y, dtype=np.int64))
    atomic_save_npy(xs, x)  # inputs last: their presence marks a whole entry
    return x, np.asarray(y, dtype=np.int64)


def files_hash(paths) -> str:
    """SHA-256 over the files' contents, in order (each file read only when its stat changed)."""
    from toolkit.io import file_hash, sha256_bytes

    return sha256_bytes("".join(file_hash(p) for p in paths).encode())


def first_existing(candidates, what: str, origin: str) -> Path:
    """The first of ``candidates`` that exists, else a ``DataError`` naming the first path and the file's origin."""
    candidates = [Path(c) for c in candidates]
    for c in candidates:
        if c.exists():
            return c
    also = f"; also looked in {', '.join(map(str, candidates[1:]))}" if len(candidates) > 1 else ""
    raise DataError(f"missing {candidates[0]} ({what} not found{also})", origin)
