"""``package`` under storage faults and kills: the earlier zip and rows stay whole; a re-run gives the same bytes.

Faults are injected at the atomic writers (a disk that fills after some bytes, ENOSPC at fsync)
and with a read-only run folder (chmod 0o500, or, as root, EACCES injected where the temporary
files are made, since root writes through 0o500). Where a small tmpfs can be mounted (root with
``mount``), a real full disk too. A subprocess writing a submission is killed with SIGKILL at
random points; every file left is the earlier run's or the new one's, whole.
"""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from fault_injection import failing_fsync, full_disk, make_read_only, restore_permissions, temporaries, tree

from toolkit.mico.check import read_zip_predictions
from toolkit.mico.package import write_submission
from toolkit.mico.predictions import PhaseScores

TASK, SCEN, N_VALUES = "t", ("s_inf", "s_lo"), 20
EXPECTED = {s: {"dev": [10, 11, 12], "final": [20, 21, 22]} for s in SCEN}
MANIFEST = {"made_by": "test"}  # fixed: the bytes of a run follow from its predictions alone


def _preds(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {
        s: {ph: PhaseScores(ph, ids, rng.random((len(ids), N_VALUES))) for ph, ids in EXPECTED[s].items()} for s in SCEN
    }


def _write(out_dir: Path, seed: int) -> Path:
    return write_submission(out_dir, TASK, _preds(seed), EXPECTED, N_VALUES, MANIFEST)


@pytest.fixture
def runs(tmp_path):
    """The earlier run (seed 1) in ``out``, and what an uninterrupted new run (seed 2) writes, in ``clean``."""
    _write(tmp_path / "earlier", 1)
    _write(tmp_path / "clean", 2)
    _write(tmp_path / "out", 1)
    return tree(tmp_path / "earlier"), tree(tmp_path / "clean"), tmp_path / "out"


def _whole(out: Path, earlier: dict, clean: dict) -> None:
    """Every file in ``out`` is the earlier run's or the new run's, byte for byte; the zip passes the checker."""
    got = tree(out)
    for name, data in got.items():
        if Path(name).name.startswith(".") and name.endswith(".tmp"):
            continue  # a killed writer's temporary: never a file of the submission
        assert data in (earlier.get(name), clean.get(name)), f"{name} is neither run's"
    read_zip_predictions(out / f"{TASK}.zip", TASK, SCEN, EXPECTED, N_VALUES)


def test_same_predictions_give_the_same_zip_bytes(tmp_path):
    assert _write(tmp_path / "a", 2).read_bytes() == _write(tmp_path / "b", 2).read_bytes()
    with zipfile.ZipFile(tmp_path / "a" / f"{TASK}.zip") as zf:
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in zf.infolist())


@pytest.mark.parametrize("fill", [0.0, 0.3, 0.6, 0.97])
def test_a_disk_that_fills_up_keeps_every_file_whole(runs, monkeypatch, fill):
    """The disk fills after a share of what the run writes: at a row, in the zip, in the manifest."""
    earlier, clean, out = runs
    full_disk(monkeypatch, int(fill * sum(len(v) for v in clean.values())))
    with pytest.raises(OSError) as err:
        _write(out, 2)
    assert err.value.errno == errno.ENOSPC and err.value.filename
    assert temporaries(out) == []
    assert (out / f"{TASK}.zip").read_bytes() == earlier[f"{TASK}.zip"]
    _whole(out, earlier, clean)
    monkeypatch.undo()  # space freed: the re-run writes what an uninterrupted run writes
    _write(out, 2)
    assert tree(out) == clean


def test_enospc_at_fsync_keeps_the_earlier_submission(runs, monkeypatch):
    earlier, clean, out = runs
    failing_fsync(monkeypatch)
    with pytest.raises(OSError, match="No space"):
        _write(out, 2)
    assert tree(out) == earlier and temporaries(out) == []


def test_a_read_only_run_folder_keeps_the_earlier_submission(runs, monkeypatch):
    earlier, clean, out = runs
    make_read_only(out, monkeypatch)
    try:
        with pytest.raises(PermissionError):
            _write(out, 2)
        assert tree(out) == earlier and temporaries(out) == []
    finally:
        restore_permissions(out)


@pytest.fixture
def small_disk(tmp_path):
    """A real 1 MiB tmpfs, where this machine lets the tests mount one (root with ``mount``); else skipped."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True).returncode
        != 0
    ):
        pytest.skip("mounting a small tmpfs needs root and mount")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill(disk: Path, leave_pages: int) -> Path:
    """Fill ``disk`` up, then give back ``leave_pages`` pages of 4 KiB: a disk that fills mid-run."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    os.truncate(filler, max(0, filler.stat().st_size - leave_pages * 4096))
    return filler


@pytest.mark.parametrize("leave_pages", [0, 4])
def test_a_real_full_disk_keeps_the_earlier_submission(small_disk, runs, leave_pages):
    """No page left: the rewrite of the earlier run fails at once. Four pages left: a new run folder fills
    the disk after a few files (a rewrite would not: each renamed file frees the page of the one it replaces)."""
    earlier, clean, _ = runs
    _write(small_disk / "out", 1)
    target = small_disk / ("out" if leave_pages == 0 else "fresh")
    filler = _fill(small_disk, leave_pages)
    with pytest.raises(OSError) as err:
        _write(target, 2)
    assert err.value.errno == errno.ENOSPC
    assert tree(small_disk / "out") == earlier and temporaries(small_disk) == []
    if target.name == "fresh":  # what the new run got to write is whole
        assert tree(target) and all(clean.get(name) == data for name, data in tree(target).items())
    filler.unlink()  # space freed: the re-run writes what an uninterrupted run writes
    _write(target, 2)
    assert tree(target) == clean


WRITER = """
import sys, time
import numpy as np
import toolkit.io as tio
from toolkit.mico.package import write_submission
from toolkit.mico.predictions import PhaseScores
real_fsync = tio.os.fsync
def slow_fsync(fd):  # each file sits a while between its bytes and its rename: time to be killed there
    time.sleep(0.01)
    real_fsync(fd)
tio.os.fsync = slow_fsync
expected = {s: {"dev": [10, 11, 12], "final": [20, 21, 22]} for s in ("s_inf", "s_lo")}
rng = np.random.default_rng(2)
preds = {s: {ph: PhaseScores(ph, ids, rng.random((len(ids), 20))) for ph, ids in expected[s].items()} for s in expected}
print("writing", flush=True)
write_submission(sys.argv[1], "t", preds, expected, 20, {"made_by": "test"})
print("done", flush=True)
"""


@pytest.mark.slow
def test_kills_at_random_points_leave_whole_files_and_a_rerun_the_same_bytes(runs):
    earlier, clean, out = runs
    rng = random.Random(13)
    outcomes = []
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(out)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "writing"
        time.sleep(rng.uniform(0.0, 0.25))  # the writes take ~0.2-0.4 s: a random point inside them
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        outcomes.append(proc.stdout.read().strip())
        _whole(out, earlier, clean)
    assert outcomes.count("done") < len(outcomes), "every kill came too late"
    _write(out, 2)  # the re-run: the uninterrupted run's bytes, the killed runs' temporaries swept
    assert tree(out) == clean
