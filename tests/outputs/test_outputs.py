"""get_outputs: content-addressed keys, atomic entries, kill-and-resume, precision, parallel workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import toolkit.io as toolkit_io
import toolkit.outputs as outputs
from toolkit.errors import ConfigError, ModelError
from toolkit.outputs import OutputTask, cache_path, compute_logits, get_outputs, load_output, precision_agreement

N_MODELS = 20


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> list[Path]:
    """20 randomly initialised demo MLPs saved as the toolkit saves models."""
    import torch

    from toolkit.models import build_model, save_model

    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("models")
    paths = []
    for i in range(N_MODELS):
        torch.manual_seed(i)
        save_model(build_model("demo_mlp", 10), folder / f"model_{i:02d}.pt")
        paths.append(folder / f"model_{i:02d}.pt")
    return paths


def demo_task(path: Path, points=None, **kw) -> OutputTask:
    points = np.arange(0, 1797, 3, dtype=np.int64) if points is None else points
    return OutputTask(Path(path), "demo_mlp", 10, "demo", points, **kw)


def entries(cache: Path) -> list[Path]:
    """The cache's visible entries (hidden temporary files are not entries)."""
    return sorted(p for p in cache.glob("??/*.npy") if not p.name.startswith("."))


def test_key_changes_with_model_points_views_and_precision(models, tmp_path):
    import shutil

    base = demo_task(models[0])
    assert cache_path(base, tmp_path) == cache_path(demo_task(models[0]), tmp_path)
    copy = tmp_path / "copy.pt"
    shutil.copy(models[0], copy)
    assert cache_path(demo_task(copy), tmp_path) == cache_path(base, tmp_path)  # content, not file name
    others = [
        demo_task(models[1]),  # other weights
        demo_task(models[0], base.points[::-1].copy()),  # same points, other order
        demo_task(models[0], base.points[:-1]),
        replace(base, precision="bf16"),
    ]
    keys = {cache_path(t, tmp_path) for t in [base, *others]}
    assert len(keys) == len(others) + 1
    copy.write_bytes(models[1].read_bytes())  # a changed file under the same name gets a new key
    assert cache_path(demo_task(copy), tmp_path) == cache_path(demo_task(models[1]), tmp_path)


def test_views_are_part_of_the_key_and_checked(tmp_path):
    from toolkit.views import parse_views

    assert parse_views("flip,orig") == ("orig", "flip")
    with pytest.raises(ConfigError, match="unknown view"):
        parse_views("rotate")


def test_logits_match_a_plain_forward_pass(models, tmp_path):
    import torch

    from toolkit.data import load_population
    from toolkit.models import load_model

    points = np.array([5, 3, 1700, 3, 0], dtype=np.int64)  # any order, repeats allowed
    task = demo_task(models[2], points, batch_size=2)  # several batches, the last one short
    (path,) = get_outputs([task], cache_dir=tmp_path, progress=False)
    got = load_output(path)
    x = torch.from_numpy(load_population("demo").inputs[points])
    with torch.no_grad():
        want = load_model("demo_mlp", models[2], 10)(x).numpy()
    assert got.shape == (5, 1, 10) and got.dtype == np.float32
    np.testing.assert_allclose(got[:, 0], want, rtol=1e-5, atol=1e-6)


def test_duplicate_tasks_share_one_entry_and_warm_cache_computes_nothing(models, tmp_path, monkeypatch):
    calls = []
    real = outputs.compute_logits
    monkeypatch.setattr(outputs.local, "compute_logits", lambda *a, **k: calls.append(1) or real(*a, **k))
    tasks = [demo_task(models[0]), demo_task(models[1]), demo_task(models[0])]
    paths = get_outputs(tasks, cache_dir=tmp_path, progress=False)
    assert paths[0] == paths[2] and len(calls) == 2 and len(entries(tmp_path)) == 2
    get_outputs(tasks, cache_dir=tmp_path, progress=False)
    assert len(calls) == 2


def test_warm_run_stats_model_files_instead_of_reading_them(models, tmp_path, monkeypatch):
    tasks = [demo_task(p) for p in models[:3]]
    paths = get_outputs(tasks, cache_dir=tmp_path, progress=False)
    assert (tmp_path / outputs.keys.HASH_MEMO).is_file()
    monkeypatch.setattr(toolkit_io, "FILE_HASHES", {})  # as in a fresh process

    def no_reading(path):
        raise AssertionError(f"{path} was hashed again")

    monkeypatch.setattr(toolkit_io, "sha256_file", no_reading)
    assert get_outputs(tasks, cache_dir=tmp_path, progress=False) == paths
    (tmp_path / outputs.keys.HASH_MEMO).write_text("{not json")  # a damaged memo only costs re-hashing
    monkeypatch.setattr(toolkit_io, "FILE_HASHES", {})
    monkeypatch.undo()
    assert get_outputs(tasks, cache_dir=tmp_path, progress=False) == paths


def test_concurrent_threads_do_not_share_a_model(models):
    """Dask workers run tasks in threads of one process: each thread needs its own model skeleton."""
    from concurrent.futures import ThreadPoolExecutor

    tasks = [demo_task(p, np.arange(1797), batch_size=8) for p in models[:6]]
    serial = [compute_logits(t, device="cpu", precision="fp32") for t in tasks]
    with ThreadPoolExecutor(3) as pool:
        threaded = list(pool.map(lambda t: compute_logits(t, device="cpu", precision="fp32"), tasks))
    assert all(np.array_equal(a, b) for a, b in zip(serial, threaded))


def test_wrong_architecture_is_a_model_error(models, tmp_path):
    task = replace(demo_task(models[0]), n_classes=7)
    with pytest.raises(ModelError, match="does not fit"):
        get_outputs([task], cache_dir=tmp_path, progress=False)
    assert entries(tmp_path) == []


def test_stale_temporary_files_are_swept_fresh_ones_kept(models, tmp_path):
    task = demo_task(models[3])
    folder = cache_path(task, tmp_path).parent
    folder.mkdir(parents=True)
    old, new = folder / ".x.npy.a.tmp", folder / ".y.npy.b.tmp"
    old.write_bytes(b"half"), new.write_bytes(b"half")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    get_outputs([task], cache_dir=tmp_path, progress=False)
    assert not old.exists() and new.exists()  # a young one may belong to a run still going


KILLABLE = """
import sys, time
from pathlib import Path
import numpy as np
import torch
torch.set_num_threads(1)
import toolkit.outputs as o
import toolkit.outputs.local as local
real = local.compute_logits
def slow(*a, **k):  # time to be killed half-way (get_outputs calls the name bound in outputs.local)
    time.sleep(0.2)
    return real(*a, **k)
local.compute_logits = slow
paths = sorted(Path(sys.argv[1]).glob("model_*.pt"))
tasks = [o.OutputTask(p, "demo_mlp", 10, "demo", np.arange(0, 1797, 3, dtype=np.int64)) for p in paths]
o.get_outputs(tasks, cache_dir=Path(sys.argv[2]), progress=False)
"""


@pytest.mark.slow
def test_kill_and_resume_gives_the_uninterrupted_cache(models, tmp_path, monkeypatch):
    import torch

    torch.set_num_threads(1)
    tasks = [demo_task(p) for p in models]
    clean = tmp_path / "clean"
    get_outputs(tasks, cache_dir=clean, progress=False)
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE, str(models[0].parent), str(killed)])
    deadline = time.time() + 60
    while len(entries(killed)) < N_MODELS // 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(entries(killed))
    assert 0 < done < N_MODELS, f"the kill came too late or too early ({done} entries)"
    calls = []
    real = outputs.compute_logits
    monkeypatch.setattr(outputs.local, "compute_logits", lambda *a, **k: calls.append(1) or real(*a, **k))
    get_outputs(tasks, cache_dir=killed, progress=False)
    assert len(calls) == N_MODELS - done  # only the missing entries were computed
    got, want = entries(killed), entries(clean)
    assert [p.relative_to(killed) for p in got] == [p.relative_to(clean) for p in want]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(got, want))
    leftovers = [p for p in killed.rglob("*") if p.is_file() and p not in got and p.name != outputs.keys.HASH_MEMO]
    assert all(p.name.startswith(".") and p.name.endswith(".tmp") for p in leftovers)


@pytest.mark.slow
def test_worker_pool_writes_the_same_cache(models, tmp_path):
    tasks = [demo_task(p) for p in models[:4]]
    serial = get_outputs(tasks, jobs=1, cache_dir=tmp_path / "serial", progress=False)
    pooled = get_outputs(tasks, jobs=2, cache_dir=tmp_path / "pooled", progress=False)
    assert [a.name for a in serial] == [b.name for b in pooled]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(serial, pooled))


def test_precision_agreement_reports_logit_score_and_metric_changes():
    labels = np.array([0, 1, 1, 0])
    members = np.array([True, True, False, False])
    ref = np.zeros((4, 1, 2), np.float32)
    ref[np.arange(4), 0, labels] = [3.0, 2.0, 1.0, 0.0]  # φ = z_y − z_other: members score higher
    same = precision_agreement(ref, ref.copy(), labels, members)
    assert same == {"max_logit_diff": 0.0, "max_score_diff": 0.0, "max_metric_diff": 0.0}
    swapped = ref.copy()
    swapped[[1, 2], 0, labels[[1, 2]]] = [1.0, 2.0]  # member 1 and non-member 2 trade scores
    out = precision_agreement(ref, swapped, labels, members)
    # TPR at FPR < 10% falls from 1 (perfect split) to 1/2 (the top non-member now outranks a member)
    assert out["max_logit_diff"] == 1.0 and out["max_score_diff"] == pytest.approx(1.0)
    assert out["max_metric_diff"] == pytest.approx(0.5)


def test_bf16_logits_leave_the_metrics_unchanged_on_cpu(models):
    from toolkit.data import load_population

    task = demo_task(models[4], np.arange(1797))
    ref = compute_logits(task, device="cpu", precision="fp32")
    half = compute_logits(task, device="cpu", precision="bf16")
    members = np.random.default_rng(0).random(1797) < 0.5
    out = precision_agreement(ref, half, load_population("demo").labels, members)
    assert 0 < out["max_logit_diff"] < 0.05 and out["max_metric_diff"] <= 0.01


@pytest.mark.gpu
def test_bf16_channels_last_cnn_on_gpu_agrees_with_fp32(tmp_path):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    from toolkit.data import Population, register_dataset
    from toolkit.models import build_model, save_model
    from toolkit.models.resnet import resnet18_44  # noqa: F401 (registers the image architecture)

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 44, 2000)
    register_dataset("gpu_test_images")(lambda data_dir=None, dataset_dir=None: Population(x, y, "gpu-test-images"))
    torch.manual_seed(0)
    save_model(build_model("resnet18_44", 44), tmp_path / "m.pt")
    task = OutputTask(tmp_path / "m.pt", "resnet18_44", 44, "gpu_test_images", np.arange(2000))
    assert outputs.resolve_precision(task, "cuda") == "bf16"
    ref = compute_logits(task, device="cuda", precision="fp32")
    half = compute_logits(task, device="cuda")
    out = precision_agreement(ref, half, y, rng.random(2000) < 0.5)
    assert out["max_metric_diff"] <= 0.01, out
