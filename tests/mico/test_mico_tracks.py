"""The MICO tracks end to end on test-sized fixtures in the organisers' formats, and toolkit.mico.ddp."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
from mico_fixtures import mico_track, write_cifar, write_purchase, write_scenario, write_sst2, write_weights

from toolkit.attacks import run_attack
from toolkit.errors import ConfigError
from toolkit.metrics import scorer_metrics
from toolkit.mico.ceiling import epsilon_report
from toolkit.mico.ddp import (
    calibration_pool,
    ddp_scores,
    ddp_validation_scores,
    known_membership,
    own_calibration,
)
from toolkit.mico.pipeline import Context, submit
from toolkit.tracks import Recipe, load_track

HARD = {"attack": "hardness", "signal": "loss", "formula": "in"}


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: threads only contend
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MIA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MIA_RUNS_DIR", str(tmp_path / "runs"))
    yield
    torch.set_num_threads(threads)


def _trained_mlp(data_dir, prefix=""):
    """Weights callback: mico_mlp overfitted on the model's training set (strong membership signal)."""
    import torch

    from toolkit.data import load_population
    from toolkit.models import build_model

    def write(folder, splits, model_id):
        pop = load_population("purchase100", data_dir)
        idx = splits.training_set()
        x, y = torch.from_numpy(np.asarray(pop.inputs[idx])), torch.from_numpy(np.asarray(pop.labels[idx]))
        torch.manual_seed(model_id)
        model = build_model("mico_mlp", 100)
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        for _ in range(20):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        torch.save({prefix + k: v for k, v in model.state_dict().items()}, folder / "model.pt")

    return write


def _random(arch, n_classes, prefix=""):
    return lambda folder, splits, model_id: write_weights(folder, arch, n_classes, model_id, prefix)


def _zip_rows(zip_path, task):
    with zipfile.ZipFile(zip_path) as z:
        names = [n for n in z.namelist() if n.endswith("prediction.csv")]
        rows = [np.array(z.read(n).decode().strip().split(","), dtype=float) for n in names]
    assert all(n.startswith(f"{task}/") for n in names)
    return names, rows


def test_track_files_parse():
    sizes = {"cifar10": (60000, 50000), "purchase100": (197324, 150000), "sst2": (68221, 67349)}
    for name, (N, n) in sizes.items():
        t = load_track(name)
        assert (t.population_size, t.len_training, t.m) == (N, n, 100) and len(t.scenarios) == 3
    ddp = load_track("ddp")
    assert {ddp.dataset_of(s): ddp.population_size_of(s) for s in ddp.scenarios} == {k: v[0] for k, v in sizes.items()}
    assert all(s.recipe.as_dict() == {"attack": "auto"} for s in load_track("purchase100").scenarios)


@pytest.mark.slow
def test_purchase100_end_to_end(tmp_path):
    data = tmp_path / "data"
    write_purchase(data / "purchase100" / "dataset_purchase", n=600)
    N, n, m = 600, 400, 50
    scen = {
        "purchase100_inf": {
            "epsilon": float("inf"),
            "recipe": {"attack": "hardness", "signal": "confidence", "formula": "mid"},
        },
        "purchase100_lo": {"epsilon": 4.0, "recipe": {"attack": "hardness", "signal": "loss", "formula": "z"}},
    }
    track = mico_track("purchase100", "purchase100", "purchase100", "mico_mlp", 100, N, n, m, scen)
    for k, sc in enumerate(scen):
        write_scenario(data, "purchase100", sc, N, n, m, weights=_trained_mlp(data, "_module." if k else ""), seed=k)
    zip_path, summary, table = submit(Context(track=track, data_dir=data, progress=False))
    names, rows = _zip_rows(zip_path, "purchase100")
    assert len(names) == 2 * 4 and all(len(r) == 2 * m and r.min() >= 0 and r.max() <= 1 for r in rows)
    final = summary["purchase100_inf"]["metrics"]["recipe"]["final"]
    assert final["AUC"] > 0.7  # overfitted MLPs leak; the recipe must see it through the whole pipeline
    assert "ranking figure" in table


@pytest.mark.slow
def test_cifar10_end_to_end_with_opacus_prefixes(tmp_path):
    data = tmp_path / "data"
    write_cifar(data / "cifar10", per_batch=25)
    N, n, m = 150, 100, 20
    scen = {
        "cifar10_inf": {"recipe": HARD},
        "cifar10_hi": {"epsilon": 10.0, "recipe": {**HARD, "signal": "confidence"}},
    }
    track = mico_track("cifar10", "cifar10", "cifar10", "mico_cnn", 10, N, n, m, scen)
    for k, sc in enumerate(scen):
        write_scenario(
            data, "cifar10", sc, N, n, m, counts=(3, 1, 1), weights=_random("mico_cnn", 10, "_module." * k), seed=k
        )
    zip_path, summary, _ = submit(Context(track=track, data_dir=data, progress=False))
    names, rows = _zip_rows(zip_path, "cifar10")
    assert sorted(n.split("/")[1] for n in names) == ["cifar10_hi"] * 2 + ["cifar10_inf"] * 2
    assert all(np.isfinite(r).all() and len(r) == 2 * m for r in rows)


def test_sst2_end_to_end_where_points_lack_out_references(tmp_path):
    pytest.importorskip("transformers")
    data = tmp_path / "data"
    write_sst2(data / "sst2", n_train=300, n_val=60)
    N, n, m = 360, 330, 20  # 10 evaluation points per model: most points have no OUT reference
    scen = {"sst2_lo": {"epsilon": 4.0, "recipe": HARD, "folder": "sst2_lo"}}
    track = mico_track("sst2", "sst2", "sst2", "roberta_sst2", 2, N, n, m, scen)
    write_scenario(
        data / "sst2", "sst2", "sst2_lo", N, n, m, counts=(3, 1, 1), weights=_random("roberta_sst2", 2, "_module.")
    )
    zip_path, summary, _ = submit(
        Context(track=track, data_dir=data, progress=False)
    )  # the re-release's sst2/sst2/sst2_lo level
    _, rows = _zip_rows(zip_path, "sst2")
    assert len(rows) == 2 and all(np.isfinite(r).all() for r in rows)


@pytest.mark.parametrize("formula", ["in", "mid", "z"])
def test_hardness_is_finite_without_out_references(formula):
    rng = np.random.default_rng(0)
    target = rng.normal(size=(6, 1, 2)).astype(np.float32)
    ref = rng.normal(size=(3, 6, 1, 2)).astype(np.float32)
    keep = np.ones((3, 6), bool)
    keep[:, 0] = False  # one point with no IN reference either
    s = run_attack("hardness", target, np.zeros(6, np.int64), ref, keep, formula=formula)
    assert np.isfinite(s).all()


def test_own_calibration_formulas():
    h_pool = np.array([1.0, 3.0, 0.0, 2.0])  # IN: 1, 3 (μ 2, σ 1); OUT: 0, 2 (μ 1, σ 1)
    member = np.array([1, 1, 0, 0], np.int8)
    h = np.array([1.5, 4.0])
    assert np.allclose(own_calibration(h, h_pool, member, "z_out"), [0.5, 3.0])
    assert np.allclose(own_calibration(h, h_pool, member, "z_in"), [-0.5, 2.0])
    assert np.allclose(own_calibration(h, h_pool, member, "lr"), [0.0, 2.5])  # (2−1)/1 · (h − 1.5)
    one_out = np.array([1, 1, -1, 0], np.int8)  # too few OUT points: z against IN
    assert np.allclose(own_calibration(h, h_pool, one_out, "lr"), [-0.5, 2.0])
    with pytest.raises(ConfigError):
        own_calibration(h, h_pool, member, "bogus")


def test_epsilon_report_separable_vs_random():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 2000)
    strong = epsilon_report(y, y + rng.normal(0, 0.05, len(y)), 1e-5)
    weak = epsilon_report(y, rng.normal(size=len(y)), 1e-5)
    assert strong["eps_lower"] > 5 and strong["fpr"] < 0.01 and strong["tpr"] > 0.99
    assert weak["eps_lower"] < 0.3 and strong["n_pos"] + strong["n_neg"] == 2000


@pytest.mark.slow
def test_ddp_own_calibration_end_to_end(tmp_path):
    data = tmp_path / "data"
    write_purchase(data / "purchase100" / "dataset_purchase", n=600)
    write_cifar(data / "cifar10", per_batch=50)
    scen = {
        "purchase100_ddp": {
            "epsilon": 4.0,
            "dataset": "purchase100",
            "architecture": "mico_mlp",
            "n_classes": 100,
            "population_size": 600,
            "len_training": 400,
            "recipe": {**HARD, "signal": "confidence"},
        },
        "cifar10_ddp": {"epsilon": 4.0, "recipe": HARD},
    }
    track = mico_track("ddp", "ddp", "cifar10", "mico_cnn", 10, 300, 200, 20, scen)
    write_scenario(data, "ddp", "purchase100_ddp", 600, 400, 20, weights=_trained_mlp(data), reveal_training=True)
    write_scenario(
        data,
        "ddp",
        "cifar10_ddp",
        300,
        200,
        20,
        counts=(3, 1, 1),
        weights=_random("mico_cnn", 10),
        reveal_training=True,
        seed=1,
    )
    ctx = Context(track=track, data_dir=data, progress=False)
    zip_path, _, _ = submit(ctx)
    assert len(_zip_rows(zip_path, "ddp")[0]) == 2 + 4
    sd = ctx.open(track.scenario("purchase100_ddp"))
    paths = ctx.paths(sd)
    recipe = Recipe.from_dict({**HARD, "signal": "confidence"}, "test")
    pool = calibration_pool(sd, 300)
    member = known_membership(sd.splits[("dev", 4)], pool)
    assert (member == 1).sum() > 100 and (member == 0).sum() > 10 and set(np.unique(member)) <= {-1, 0, 1}
    ps = ddp_scores(sd, "dev", paths, recipe, ctx, pool_size=300)
    assert ps.scores.shape == (2, 40) and np.isfinite(ps.scores).all()
    y, s, groups = ddp_validation_scores(sd, paths, recipe, ctx, pool_size=300)
    assert len(y) == len(s) == 4 * 40 and scorer_metrics(y, s)["AUC"] > 0.7
    report = epsilon_report(y, s)
    assert 0 <= report["eps_lower"] <= report["eps_point"]
