"""The atomic writers under storage faults: the old file stays whole, no temporary is left, the error names the file.

Faults are injected at the write call (a disk that fills up, an fsync that reports ENOSPC, a
buffered write whose flush fails again at close) and with a read-only folder (chmod 0o500; tests
running as root, where chmod stops nothing, get EACCES injected where the temporary file is made).
"""

from __future__ import annotations

import errno
import io
import os

import numpy as np
import pytest
from fault_injection import failing_fsync, full_disk, make_read_only, restore_permissions, temporaries

import toolkit.io as toolkit_io
from toolkit.io import atomic_file, atomic_save_npy, atomic_write_bytes, atomic_write_text

OLD = b"the earlier, whole file\n"


@pytest.fixture
def existing(tmp_path):
    path = tmp_path / "out" / "result.bin"
    path.parent.mkdir()
    path.write_bytes(OLD)
    return path


@pytest.mark.parametrize("budget", [0, 10, 100_000])
def test_a_full_disk_keeps_the_old_file_and_leaves_no_temporary(existing, monkeypatch, budget):
    full_disk(monkeypatch, budget)
    with pytest.raises(OSError) as err:
        atomic_write_bytes(existing, b"x" * 200_000)
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(existing)
    assert existing.read_bytes() == OLD and temporaries(existing.parent) == []


def test_a_full_disk_while_saving_an_array(existing, monkeypatch):
    full_disk(monkeypatch, 1000)
    with pytest.raises(OSError, match="No space"):
        atomic_save_npy(existing.with_suffix(".npy"), np.zeros((100, 100), np.float32))
    assert not existing.with_suffix(".npy").exists() and temporaries(existing.parent) == []


def test_enospc_at_fsync_keeps_the_old_file(existing, monkeypatch):
    failing_fsync(monkeypatch)
    with pytest.raises(OSError) as err:
        atomic_write_text(existing, "new")
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(existing)
    assert existing.read_bytes() == OLD and temporaries(existing.parent) == []


class _FullRaw(io.RawIOBase):
    """A raw file whose every write fails with ENOSPC (the buffered layer above keeps what it can)."""

    def __init__(self, fd: int):
        self._fd = fd

    def writable(self) -> bool:
        return True

    def write(self, b):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def fileno(self) -> int:
        return self._fd

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


def test_a_flush_that_fails_again_at_close_still_removes_the_temporary(existing, monkeypatch):
    """The buffered remainder fails a second time when the file is closed: the temporary goes all the same."""
    real = toolkit_io._open_temp

    def open_temp(path):
        f, tmp = real(path)
        fd = os.dup(f.fileno())
        f.close()
        return io.BufferedWriter(_FullRaw(fd), buffer_size=4096), tmp

    monkeypatch.setattr(toolkit_io, "_open_temp", open_temp)
    with pytest.raises(OSError, match="No space"):
        with atomic_file(existing) as f:
            f.write(b"y" * 100)  # buffered
            f.write(b"z" * 100_000)  # reaches the raw file: ENOSPC, with bytes still buffered
    assert existing.read_bytes() == OLD and temporaries(existing.parent) == []


def test_a_read_only_folder_keeps_the_old_file(existing, monkeypatch):
    how = make_read_only(existing.parent, monkeypatch)
    try:
        with pytest.raises(PermissionError):
            atomic_write_bytes(existing, b"new")
        assert existing.read_bytes() == OLD and temporaries(existing.parent) == []
    finally:
        restore_permissions(existing.parent)
    assert how in ("chmod", "injected")
