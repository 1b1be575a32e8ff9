"""Storage faults for tests (helpers, not tests): a disk that fills up, a folder that refuses writes.

The fault is injected where ``toolkit.io``'s atomic writers open their temporary file, so every
stage that writes (package, outputs, tune) meets it exactly where a real disk would refuse.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import toolkit.io as toolkit_io


class _FullDiskFile:
    """A file object that accepts ``budget[0]`` more bytes (shared by every file), then raises ENOSPC."""

    def __init__(self, f, budget: list[int]):
        self._f, self._budget = f, budget

    def write(self, data) -> int:
        n = len(memoryview(data).cast("B"))
        if n > self._budget[0]:
            if self._budget[0] > 0:  # what fits is written, like a real disk
                self._f.write(memoryview(data).cast("B")[: self._budget[0]])
                self._budget[0] = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._budget[0] -= n
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


def full_disk(monkeypatch, budget: int) -> list[int]:
    """From now on the atomic writers can write ``budget`` bytes in all, then ENOSPC; returns the budget cell."""
    cell = [budget]
    real = toolkit_io._open_temp

    def open_temp(path):
        f, tmp = real(path)
        return _FullDiskFile(f, cell), tmp

    monkeypatch.setattr(toolkit_io, "_open_temp", open_temp)
    return cell


def failing_fsync(monkeypatch) -> None:
    """ENOSPC at fsync (delayed allocation: ext4, NFS and XFS report a full disk there)."""

    def fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(toolkit_io.os, "fsync", fsync)


def make_read_only(folder: Path, monkeypatch) -> str:
    """Make ``folder`` (and every folder under it) read-only; returns how: "chmod" or "injected".

    Tests run as root in CI, and root writes into a 0o500 folder all the same; where a probe write
    succeeds, the atomic writers' temporary files under ``folder`` fail with EACCES instead, as they
    would for anyone else. Call ``restore_permissions`` afterwards.
    """
    folder = Path(folder)
    for d in [folder, *[p for p in folder.rglob("*") if p.is_dir()]]:
        d.chmod(stat.S_IRUSR | stat.S_IXUSR)
    probe = folder / ".probe"
    try:
        probe.write_text("x")
    except PermissionError:
        return "chmod"
    probe.unlink()
    real = toolkit_io._open_temp
    root = folder.resolve()

    def open_temp(path):
        if Path(path).resolve().is_relative_to(root):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(Path(path).parent))
        return real(path)

    monkeypatch.setattr(toolkit_io, "_open_temp", open_temp)
    return "injected"


def restore_permissions(folder: Path) -> None:
    for d in [Path(folder), *[p for p in Path(folder).rglob("*") if p.is_dir()]]:
        d.chmod(0o755)


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def temporaries(folder: Path) -> list[Path]:
    """The atomic writers' hidden temporary files under ``folder``."""
    return sorted(Path(folder).rglob(".*.tmp"))
