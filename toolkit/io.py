"""Small file helpers: atomic writes and content hashes."""

from __future__ import annotations

import hashlib
import io as _io
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_save_npy", "sha256_file", "sha256_bytes", "FILE_HASHES",
           "stat_key", "file_hash"]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename into place.

    A run killed at any moment leaves either the old file, the whole new file, or nothing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_save_npy(path: Path, array: np.ndarray) -> None:
    buf = _io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


# Content hashes of files by stat key, per process (``toolkit.outputs`` persists it beside the cache,
# git's stat-cache idea): a warm run stats model and dataset files instead of reading them.
FILE_HASHES: dict[tuple, str] = {}


def stat_key(path: Path) -> tuple:
    # ctime changes on every write and cannot be set back by the user (unlike mtime): a rewritten
    # file never matches its old key, even at the same size and mtime
    st = Path(path).stat()
    return (str(Path(path).resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def file_hash(path: Path) -> str:
    """SHA-256 of a file's content, read only when its stat key is not in ``FILE_HASHES``."""
    key = stat_key(path)
    if key not in FILE_HASHES:
        FILE_HASHES[key] = sha256_file(path)
    return FILE_HASHES[key]
