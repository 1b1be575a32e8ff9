"""Small file helpers: atomic writes, bounded reads and content hashes."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from pathlib import Path

import numpy as np

__all__ = [
    "read_bounded",
    "atomic_file",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_save_npy",
    "atomic_savefig",
    "sweep_stale_temporaries",
    "sha256_file",
    "sha256_bytes",
    "FILE_HASHES",
    "stat_key",
    "file_hash",
]


def read_bounded(path: Path, limit: int, too_long) -> bytes:
    """At most ``limit`` bytes of ``path``; a longer file raises ``too_long()`` without the rest being read."""
    with open(path, "rb") as f:
        raw = f.read(limit + 1)
    if len(raw) > limit:
        raise too_long()
    return raw


def _open_temp(path: Path):
    """A new hidden temporary file beside ``path``: (binary file object, its path)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    return os.fdopen(fd, "wb"), tmp


def _discard(f, tmp: str) -> None:
    """Close and remove a temporary file after a failure.

    Closing flushes what is still buffered, which fails again on a full disk: the file is closed
    all the same, and it must still be removed, so that error is dropped (the first one is raised).
    """
    try:
        f.close()
    except OSError:
        pass
    finally:
        Path(tmp).unlink(missing_ok=True)


def _named(exc: BaseException, path: Path) -> BaseException:
    """An OSError that names ``path`` (a failed write or fsync names no file; the user needs to know which)."""
    if isinstance(exc, OSError) and exc.filename is None and exc.errno is not None:
        return OSError(exc.errno, exc.strerror or str(exc), str(path))  # errno picks the subclass
    return exc


def _fail(f, tmp: str, path: Path, exc: BaseException):
    """Remove the temporary file, then raise ``exc`` (an OSError as one that names ``path``)."""
    _discard(f, tmp)
    named = _named(exc, path)
    if named is exc:
        raise exc
    raise named from exc


def _commit(f, tmp: str, path: Path) -> None:
    """Flush and fsync the temporary file, then rename it into place (removed if anything fails)."""
    try:
        with f:
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        _fail(f, tmp, path, exc)


@contextlib.contextmanager
def atomic_file(path: Path):
    """A binary file object for ``path``: a temporary file in the same folder, fsynced and renamed
    into place when the block ends, removed if it raises.

    A run killed at any moment leaves either the old file, the whole new file, or nothing.
    """
    f, tmp = _open_temp(path)
    try:
        yield f
    except BaseException as exc:
        _fail(f, tmp, path, exc)
    _commit(f, tmp, Path(path))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (``atomic_file``)."""
    with atomic_file(path) as f:
        f.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode())


def atomic_save_npy(path: Path, array: np.ndarray, syncer=None):
    """Save ``array`` atomically at ``path``, written straight into the file (no in-memory copy).

    ``syncer`` (an executor): the caller's thread writes the bytes, the fsync and rename (waiting on
    the disk, not the CPU) run there; returns that future. Without it, all here; returns None.
    """
    f, tmp = _open_temp(path)
    try:
        np.save(f, array, allow_pickle=False)
    except BaseException as exc:
        _fail(f, tmp, path, exc)
    if syncer is None:
        return _commit(f, tmp, Path(path))
    return syncer.submit(_commit, f, tmp, Path(path))


def atomic_savefig(fig, path: Path, **kwargs) -> None:
    """``fig.savefig`` into memory, then written atomically: a killed report leaves no half PNG."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format=Path(path).suffix.lstrip(".") or "png", **kwargs)
    atomic_write_bytes(Path(path), buf.getvalue())


STALE_TMP_S = 600  # a temporary file this old belongs to a killed run, not a running one


def sweep_stale_temporaries(folders, age_s: float = STALE_TMP_S) -> None:
    """Remove the atomic writers' temporaries that a killed run left in ``folders`` (only those older than
    ``age_s``: a live run sharing the folder may own new ones)."""
    now = time.time()
    for folder in folders:
        for tmp in Path(folder).glob(".*.tmp") if Path(folder).is_dir() else ():
            try:
                if now - tmp.stat().st_mtime > age_s:
                    tmp.unlink()
            except FileNotFoundError:  # another run cleaned it first
                pass


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's content, read in ``chunk``-byte blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


# Content hashes of files by stat key, per process (``toolkit.outputs`` persists it beside the cache,
# git's stat-cache idea): a warm run stats model and dataset files instead of reading them.
FILE_HASHES: dict[tuple, str] = {}


def stat_key(path: Path) -> tuple:
    """(resolved path, size, mtime, ctime, inode): changes whenever the file is rewritten."""
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
