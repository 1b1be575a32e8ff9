"""get_outputs under storage faults and kills: earlier entries stay whole, no temporary is left, the run stops.

A disk that fills after some entries, ENOSPC at fsync (on the sync thread), a read-only cache
(chmod 0o500, or EACCES injected where the temporary files are made when tests run as root, who
writes through 0o500), with one and with two worker threads (a failed write used to keep its
slot, so the other workers waited forever); and SIGKILL at random points, then a resume that
gives the uninterrupted run's bytes.
"""

from __future__ import annotations

import errno
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from fault_injection import failing_fsync, full_disk, make_read_only, restore_permissions, temporaries

from toolkit.outputs import OutputTask, get_outputs, load_output

N_MODELS = 6


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> list[Path]:
    import torch

    from toolkit.models import build_model, save_model

    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("models")
    for i in range(N_MODELS):
        torch.manual_seed(i)
        save_model(build_model("demo_mlp", 10), folder / f"model_{i}.pt")
    return sorted(folder.glob("model_*.pt"))


def _tasks(models) -> list[OutputTask]:
    return [OutputTask(p, "demo_mlp", 10, "demo", np.arange(0, 1797, 2, dtype=np.int64)) for p in models]


def _entries(cache: Path) -> dict[str, bytes]:
    return {str(p.relative_to(cache)): p.read_bytes() for p in sorted(cache.glob("??/*.npy"))}


@pytest.fixture(scope="module")
def clean(models, tmp_path_factory) -> dict[str, bytes]:
    cache = tmp_path_factory.mktemp("clean")
    get_outputs(_tasks(models), cache_dir=cache, progress=False)
    return _entries(cache)


def _check_whole(cache: Path, clean: dict) -> None:
    got = _entries(cache)
    assert all(data == clean[name] for name, data in got.items())  # every entry there is whole and right
    for name in got:
        load_output(cache / name)  # and reads back through the checked loader
    assert temporaries(cache) == []


@pytest.mark.timeout(120)
@pytest.mark.parametrize("jobs", [1, 2])
def test_a_disk_that_fills_up_stops_the_run_and_keeps_whole_entries(models, clean, tmp_path, monkeypatch, jobs):
    entry = len(next(iter(clean.values())))
    full_disk(monkeypatch, int(2.5 * entry) + 4096)  # the hash memo, two entries, then the disk is full
    cache = tmp_path / "cache"
    with pytest.raises(OSError) as err:
        get_outputs(_tasks(models), jobs=jobs, cache_dir=cache, progress=False)
    assert err.value.errno == errno.ENOSPC and err.value.filename
    assert len(_entries(cache)) < N_MODELS
    _check_whole(cache, clean)
    monkeypatch.undo()  # space freed: the resumed run completes the cache
    get_outputs(_tasks(models), jobs=jobs, cache_dir=cache, progress=False)
    assert _entries(cache) == clean


@pytest.mark.timeout(120)
@pytest.mark.parametrize("jobs", [1, 2])
def test_enospc_at_fsync_on_the_sync_thread_stops_the_run(models, clean, tmp_path, monkeypatch, jobs):
    cache = tmp_path / "cache"
    get_outputs(_tasks(models)[:2], cache_dir=cache, progress=False)
    failing_fsync(monkeypatch)
    with pytest.raises(OSError, match="No space"):
        get_outputs(_tasks(models), jobs=jobs, cache_dir=cache, progress=False)
    assert len(_entries(cache)) == 2
    _check_whole(cache, clean)


def test_a_read_only_cache_keeps_its_entries(models, clean, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    get_outputs(_tasks(models)[:3], cache_dir=cache, progress=False)
    before = _entries(cache)
    make_read_only(cache, monkeypatch)
    try:
        with pytest.raises(PermissionError):
            get_outputs(_tasks(models), cache_dir=cache, progress=False)
        assert _entries(cache) == before
        _check_whole(cache, clean)
    finally:
        restore_permissions(cache)


KILLABLE = """
import sys, time
from pathlib import Path
import numpy as np
import torch
torch.set_num_threads(1)
import toolkit.outputs as o
import toolkit.outputs.local as local
real = local.compute_logits
def slow(*a, **k):
    time.sleep(0.15)
    return real(*a, **k)
local.compute_logits = slow
paths = sorted(Path(sys.argv[1]).glob("model_*.pt"))
tasks = [o.OutputTask(p, "demo_mlp", 10, "demo", np.arange(0, 1797, 2, dtype=np.int64)) for p in paths]
print("running", flush=True)
o.get_outputs(tasks, cache_dir=Path(sys.argv[2]), progress=False)
"""


@pytest.mark.slow
def test_kills_at_random_points_then_a_resume_give_the_uninterrupted_cache(models, clean, tmp_path):
    cache = tmp_path / "cache"
    rng = random.Random(13)
    for _ in range(2):
        proc = subprocess.Popen(
            [sys.executable, "-c", KILLABLE, str(models[0].parent), str(cache)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout.readline().strip() == "running"
        time.sleep(rng.uniform(0.1, 0.8))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        got = _entries(cache)
        assert all(data == clean[name] for name, data in got.items())
    assert len(_entries(cache)) < N_MODELS, "every kill came too late"
    get_outputs(_tasks(models), cache_dir=cache, progress=False)
    assert _entries(cache) == clean
