"""``tune`` writing ``tuned_recipes.json`` under storage faults: the earlier file stays whole, no temporary is left.

Faults are injected at the atomic writer (a disk that fills, ENOSPC at fsync) and with a read-only
runs folder (chmod 0o500, or EACCES injected where the temporary file is made when tests run as
root, who writes through 0o500).
"""

from __future__ import annotations

import errno
import json

import pytest
from fault_injection import failing_fsync, full_disk, make_read_only, restore_permissions, temporaries

from toolkit.tracks import load_track
from toolkit.tuning.study import tuned_path, write_entry

ENTRY = {"recipe": {"attack": "hardness", "signal": "loss", "formula": "z"}, "heldout": {"tpr": 0.2}}


@pytest.fixture
def earlier(tmp_path, monkeypatch):
    monkeypatch.setenv("MIA_RUNS_DIR", str(tmp_path / "runs"))
    track = load_track("demo")
    path = write_entry(track, "demo_inf", ENTRY)
    return track, path, path.read_bytes()


@pytest.mark.parametrize("fault", ["full_disk", "fsync"])
def test_a_storage_fault_keeps_the_earlier_tuned_recipes(earlier, monkeypatch, fault):
    track, path, before = earlier
    if fault == "full_disk":
        full_disk(monkeypatch, 40)
    else:
        failing_fsync(monkeypatch)
    with pytest.raises(OSError) as err:
        write_entry(track, "demo_lo", {**ENTRY, "heldout": {"tpr": 0.3}})
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(path)
    assert path.read_bytes() == before and temporaries(path.parent) == []
    monkeypatch.undo()
    monkeypatch.setenv("MIA_RUNS_DIR", str(path.parent.parent))
    write_entry(track, "demo_lo", ENTRY)
    assert sorted(json.loads(tuned_path(track).read_text())) == ["demo_inf", "demo_lo"]


def test_a_read_only_runs_folder_keeps_the_earlier_tuned_recipes(earlier, monkeypatch):
    track, path, before = earlier
    make_read_only(path.parent, monkeypatch)
    try:
        with pytest.raises(PermissionError):
            write_entry(track, "demo_lo", ENTRY)
        assert path.read_bytes() == before and temporaries(path.parent) == []
    finally:
        restore_permissions(path.parent)
