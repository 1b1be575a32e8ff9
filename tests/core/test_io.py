"""Atomic writes: a whole new file, or the old one untouched and no temporary file left behind."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from toolkit.io import atomic_file, atomic_save_npy


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_save_npy_inline_and_on_a_sync_thread_write_the_same_bytes(tmp_path):
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    assert atomic_save_npy(tmp_path / "inline.npy", a) is None
    with ThreadPoolExecutor(1) as syncer:
        future = atomic_save_npy(tmp_path / "synced.npy", a, syncer=syncer)
        future.result()
    assert (tmp_path / "inline.npy").read_bytes() == (tmp_path / "synced.npy").read_bytes()
    np.testing.assert_array_equal(np.load(tmp_path / "synced.npy"), a)
    assert leftovers(tmp_path) == []


def test_a_failed_save_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "entry.npy"
    atomic_save_npy(path, np.zeros(3))
    before = path.read_bytes()
    with pytest.raises(ValueError):  # object arrays need pickling, which is refused
        atomic_save_npy(path, np.array([object()], dtype=object))
    assert path.read_bytes() == before and leftovers(tmp_path) == []


def test_an_exception_inside_atomic_file_keeps_the_old_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_file(path) as f:
            f.write(b"half of the new")
            raise RuntimeError("killed mid-write")
    assert path.read_text() == "old" and leftovers(tmp_path) == []
    with atomic_file(path) as f:
        f.write(b"new")
    assert path.read_text() == "new" and leftovers(tmp_path) == []
