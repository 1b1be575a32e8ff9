"""The Dask cluster path writes the same cache (and the same shadow weights) as a local run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from toolkit.errors import ConfigError
from toolkit.outputs import OutputTask, get_outputs

distributed = pytest.importorskip("distributed", reason="dask distributed not installed (pip install -e '.[cluster]')")


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes on the loopback interface."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None, silence_logs=40
    ) as lc:
        yield lc


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> list[Path]:
    import torch

    from toolkit.models import build_model, save_model

    folder = tmp_path_factory.mktemp("cluster_models")
    for i in range(4):
        torch.manual_seed(100 + i)
        save_model(build_model("demo_mlp", 10), folder / f"model_{i}.pt")
    return sorted(folder.glob("model_*.pt"))


@pytest.mark.slow
def test_cluster_cache_is_byte_identical_to_a_local_run(cluster, models, tmp_path):
    import torch

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    tasks = [OutputTask(p, "demo_mlp", 10, "demo", rng.permutation(1797)[:600]) for p in models]
    local = get_outputs(tasks, cache_dir=tmp_path / "local", progress=False)
    done = []
    import toolkit.outputs.cluster as cl

    real = cl.run_on_cluster

    def spy(*a, **k):
        done.append(len(a[0]))
        return real(*a, **k)

    cl.run_on_cluster = spy
    try:
        remote = get_outputs(
            tasks[:3], cache_dir=tmp_path / "remote", progress=False, scheduler=cluster.scheduler_address
        )
        remote = get_outputs(tasks, cache_dir=tmp_path / "remote", progress=False, scheduler=cluster.scheduler_address)
    finally:
        cl.run_on_cluster = real
    assert done == [3, 1]  # the second call sent only the missing task
    assert [p.relative_to(tmp_path / "remote") for p in remote] == [p.relative_to(tmp_path / "local") for p in local]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(local, remote))


@pytest.mark.slow
def test_shadow_training_on_the_cluster_matches_local_training(cluster, tmp_path):
    import torch

    from toolkit.models import load_state_dict
    from toolkit.models.training import TrainConfig
    from toolkit.outputs.cluster import run_training_on_cluster
    from toolkit.references.plan import balanced_keep
    from toolkit.references.runner import shadow_train_tasks, train_task

    keep = balanced_keep(2, 1797, seed=0, pool=np.arange(400))
    cfg = TrainConfig(epochs=1, batch_size=64, lr=0.05)
    tasks = shadow_train_tasks(tmp_path / "shadows", keep, cfg, architecture="demo_mlp", n_classes=10, dataset="demo")
    assert [t.cfg.seed for t in tasks] == [0, 1] and len(tasks[0].points) + len(tasks[1].points) == 400
    paths = run_training_on_cluster(tasks, cluster.scheduler_address, train_task)
    assert [p.name for p in paths] == ["shadow_000.pt", "shadow_001.pt"]
    torch.set_num_threads(1)
    local = tmp_path / "local.pt"
    local.write_bytes(train_task(tasks[1]))
    a, b = load_state_dict(paths[1]), load_state_dict(local)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    before = paths[0].stat().st_mtime_ns
    run_training_on_cluster(tasks, cluster.scheduler_address, train_task)  # finished models are not retrained
    assert paths[0].stat().st_mtime_ns == before


def test_unreachable_scheduler_is_a_config_error(tmp_path):
    from toolkit.outputs.cluster import _client

    with pytest.raises(ConfigError, match="cannot reach the Dask scheduler"):
        _client("tcp://127.0.0.1:1", timeout="1s")


def test_a_worker_reading_other_data_than_the_client_fails_instead_of_caching_it(models, tmp_path):
    """Workers must see the client's files: logits from other data would sit under the client's key."""
    from toolkit.outputs import cluster, keys

    task = OutputTask(models[0], "demo_mlp", 10, "demo", np.arange(50))
    real = keys.population_of(task).fingerprint
    assert cluster._remote_logits(task, "fp32", real).shape == (50, 1, 10)
    with pytest.raises(ConfigError, match="other data for dataset 'demo'"):
        cluster._remote_logits(task, "fp32", "demo:someone-elses-copy")
