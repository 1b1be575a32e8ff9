"""Reference models of our own for a MICO-layout scenario: the plan, the files, the check, the CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from toolkit.cli import cli
from toolkit.errors import ConfigError, DataError
from toolkit.models.training import TrainConfig
from toolkit.references.plan import MatchedPlan, PooledPlan
from toolkit.tracks import parse_track

# ---- the plan: which rows each reference trains on ---------------------------------------------


def test_pooled_plan_puts_every_pool_point_in_half_of_any_even_prefix():
    pool = np.sort(np.random.default_rng(0).choice(1000, 101, replace=False))
    plan = PooledPlan(1000, pool, 600, seed=3)
    keep = plan.keep(8, pool)
    for n in (2, 4, 8):
        counts = keep[:n].sum(0)
        assert (counts == n // 2).all()  # exactly half: each pair splits the pool
    assert np.array_equal(plan.keep(4, pool), keep[:4])  # a larger N keeps the first models' halves
    for i in range(4):
        rows = plan.training_set(i)
        assert len(rows) == 600 and len(np.unique(rows)) == 600
        assert np.array_equal(np.isin(pool, rows), keep[i])  # keep says exactly what the model trained on
        assert np.array_equal(rows, plan.training_set(i))  # deterministic: a resumed run trains the same rows


def test_pooled_plan_over_a_pool_larger_than_twice_n_and_sizes_it_cannot_draw():
    pool = np.arange(400)
    plan = PooledPlan(1000, pool, 150)
    keep = plan.keep(4, pool)
    assert plan.in_rate == 150 / 400 and (keep.sum(1) == 150).all() and not (keep[0] & keep[1]).any()
    assert all(np.array_equal(np.sort(plan.training_set(i)), np.flatnonzero(keep[i])) for i in range(4))
    with pytest.raises(ConfigError, match="outside the 400 challenge points"):
        PooledPlan(1000, pool, 900)


def test_matched_plan_differs_from_the_target_only_in_its_challenge_half():
    challenge = np.arange(10, 30)
    base = np.arange(100, 160)
    plan = MatchedPlan(challenge, base, seed=1)
    keep = plan.keep(4, challenge)
    assert (keep[0] ^ keep[1]).all() and (keep[:2].sum(0) == 1).all()
    rows = plan.training_set(0)
    assert np.array_equal(rows[10:], base) and set(rows[:10]) == set(challenge[keep[0]])
    assert plan.keep(2, base).all()  # the target's known training rows are IN every reference


# ---- the [references] table ------------------------------------------------------------------------

_TRACK = {
    "track": {
        "name": "t",
        "task": "t",
        "kind": "mico",
        "dataset": "demo",
        "architecture": "demo_mlp",
        "n_classes": 10,
        "population_size": 1797,
        "len_training": 900,
        "m": 50,
    },
    "scenarios": {"a": {"epsilon": float("inf")}, "b": {"epsilon": 4.0, "references": {"lr": 0.2}}},
}


def _parse(refs: dict):
    return parse_track({**_TRACK, "references": refs})


def test_references_table_expresses_the_organisers_recipe():
    t = _parse({"optimizer": "adam", "lr": 0.001, "lr_step": 5, "lr_gamma": 0.9, "order": "fixed", "dp_lr": 0.01})
    plain = TrainConfig(**t.references_of(t.scenario("a")).training(float("inf")))
    assert (plain.optimizer, plain.lr, plain.lr_step, plain.lr_gamma, plain.order) == ("adam", 0.001, 5, 0.9, "fixed")
    private = TrainConfig(**t.references_of(t.scenario("b")).training(4.0))
    assert private.lr == 0.01 and private.order == "shuffle"  # dp_lr wins for DP; DP-SGD samples Poisson
    assert t.references_of(t.scenario("b")).lr == 0.2  # the scenario's override


@pytest.mark.parametrize(
    "refs, message",
    [
        ({"optimizer": "lbfgs"}, "no optimizer 'lbfgs'"),
        ({"order": "sorted"}, "no order 'sorted'"),
        ({"accountant": "moments"}, "no accountant 'moments'"),
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"lr": "fast"}, "lr must be a number"),
        ({"schedule": "cosine"}, "unknown key"),
        ({"count": 3}, "count must be an even number"),
    ],
)
def test_a_recipe_the_trainer_cannot_run_fails_at_load(refs, message):
    with pytest.raises(ConfigError, match=message):
        _parse(refs)


def test_every_mico_track_writes_its_recipe_down():
    from toolkit.tracks import load_track

    for name in ("purchase100", "cifar10", "sst2", "ddp"):
        track = load_track(name)
        for sc in track.scenarios:
            assert track.references is not None and track.references_of(sc).training(sc.epsilon)
    p = load_track("purchase100")
    cfg = TrainConfig(**p.references_of(p.scenario("purchase100_inf")).training(float("inf")))
    assert (cfg.optimizer, cfg.lr, cfg.lr_step, cfg.lr_gamma, cfg.batch_size, cfg.order) == (
        "adam",
        0.001,
        5,
        0.9,
        512,
        "fixed",
    )


# ---- training, resuming, the check and the attack stage on a tiny demo challenge -----------------


@pytest.fixture()
def runs(tmp_path, monkeypatch):
    """A runs/ and cache/ of this test's own: a pointer file must not reach other tests."""
    monkeypatch.setenv("MIA_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("MIA_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def _ctx(data):
    from toolkit.context import Context
    from toolkit.tracks import load_track

    track = load_track("demo")
    fast = replace(track.build, epochs=3, dp_epochs=1)
    return Context(track=replace(track, build=fast), data_dir=data, progress=False)


def test_train_resume_gives_the_same_bytes(tiny_demo, runs):
    from toolkit.mico.references import train_references

    ctx = _ctx(tiny_demo)
    sc = ctx.track.scenario("demo_inf")
    sd = ctx.open(sc)
    refs = ctx.track.references_of(sc)
    local = train_references(sd, 4, refs, progress=False)
    first = [p.read_bytes() for p in local.paths]
    local.paths[1].unlink()
    local.paths[3].unlink()
    again = train_references(sd, 4, refs, progress=False)
    assert [p.read_bytes() for p in again.paths] == first
    grown = train_references(sd, 6, refs, progress=False)
    assert grown.folder == local.folder and [p.read_bytes() for p in grown.paths[:4]] == first
    other = train_references(sd, 2, replace(refs, epochs=refs.epochs + 1), progress=False)
    assert other.folder != local.folder  # another recipe, another folder: two recipes never mix


def test_cli_trains_checks_registers_and_the_attack_uses_them(tiny_demo, runs):
    from toolkit.mico.auto import select
    from toolkit.mico.references import pointer_path

    out = CliRunner().invoke(
        cli,
        [
            "references",
            "--track",
            "demo",
            "--data",
            str(tiny_demo),
            "-n",
            "4",
            "-s",
            "demo_inf",
            "--len-training",
            "640",
        ],
    )
    assert out.exit_code == 0, out.output
    assert "4 local references" in out.output and "the provided models" in out.output
    ctx = _ctx(tiny_demo)
    sc = ctx.track.scenario("demo_inf")
    body = json.loads(pointer_path(ctx.track, sc).read_text())
    assert body["n_models"] == 4 and body["check"]["verdict"].startswith("local references")
    sd = ctx.open(sc)
    assert sd.local is not None and len(sd.local.paths) == 4
    paths = ctx.paths(sd)
    arrays = sd.phase_arrays("dev", paths)
    assert arrays.ref.shape[0] == len(sd.models["train"]) + 4 and arrays.keep.shape == arrays.ref.shape[:2]
    assert sd.phase_arrays("dev", paths, local=False).ref.shape[0] == len(sd.models["train"])
    sel = select(sd, paths, fusion=False, transforms=("raw",))
    labels = [r["label"] for r in sel.ranking]
    assert any(lab.endswith("+local") for lab in labels) and any(not lab.endswith("+local") for lab in labels)
    assert not any(lab.startswith("threshold") and lab.endswith("+local") for lab in labels)
    from toolkit.mico.pipeline import stage_attack

    one = replace(ctx.track, scenarios=(sc,))
    summary = stage_attack(replace(ctx, track=one), baseline=False)
    refs = summary["demo_inf"]["references"]  # what the manifest and the report carry
    assert refs["n_local"] == 4 and refs["verdict"] == body["check"]["verdict"]
    pointer_path(ctx.track, sc).unlink()
    assert ctx.open(sc).local is None  # without the pointer nothing changes


def test_check_says_when_the_recipes_differ(tiny_demo, runs):
    from toolkit.mico.references import train_references
    from toolkit.mico.references_stage import check

    ctx = _ctx(tiny_demo)
    sc = ctx.track.scenario("demo_inf")
    sd = ctx.open(sc)
    refs = ctx.track.references_of(sc)
    sd.local = train_references(sd, 2, replace(refs, epochs=1, lr=1e-4), progress=False)
    result = check(sd, ctx.paths(sd))
    assert not result["matches"] and "differ from the provided models" in result["verdict"]
    sd.local = train_references(sd, 2, refs, progress=False)
    same = check(sd, ctx.paths(sd))
    assert same["distance"] < result["distance"]


def test_bad_input_gets_one_line(tiny_demo, runs, tmp_path, monkeypatch):
    def fails(*args):
        res = CliRunner().invoke(cli, ["references", *map(str, args)])
        assert res.exit_code != 0
        lines = [ln for ln in res.output.splitlines() if ln.startswith("Error")]
        assert len(lines) == 1, res.output
        return lines[0]

    assert "pairs" in fails("--track", "demo", "--data", tiny_demo, "-n", "3")
    assert "unknown scenario" in fails("--track", "demo", "--data", tiny_demo, "-s", "nope")
    tracks = tmp_path / "tracks" / "mine"
    tracks.mkdir(parents=True)
    (tracks / "track.toml").write_text(
        (Path(__file__).resolve().parents[2] / "tracks" / "purchase100" / "track.toml")
        .read_text()
        .replace('architecture = "mico_mlp"', 'architecture = "roberta_sst2"')
        .replace('name = "purchase100"', 'name = "mine"')
    )
    monkeypatch.setenv("MIA_TRACKS_DIR", str(tmp_path / "tracks"))
    line = fails("--track", "mine", "--data", tmp_path, "-n", "2")
    assert "cannot train roberta_sst2" in line  # refused before any folder is read
    assert "lower len_training" in fails("--track", "demo", "--data", tiny_demo, "-n", "2", "--len-training", "1700")


def test_a_poisoned_provided_model_stops_the_run_before_any_reference_trains(tiny_demo, runs, tmp_path):
    import os
    import shutil

    from fixtures_tml import write_malicious

    data = tmp_path / "data"
    shutil.copytree(tiny_demo, data)
    victim = sorted(data.rglob("dev/model_*/model.pt"))[0]
    marker = tmp_path / "pwned"
    write_malicious(victim, os.system, f"touch {marker}")
    res = CliRunner().invoke(cli, ["references", "--track", "demo", "--data", str(data), "-n", "2"])
    assert res.exit_code != 0 and f"cannot read model {victim}" in res.output, res.output
    assert not marker.exists() and not list((runs / "cache").rglob("*.pt"))  # nothing trained


def test_a_population_that_does_not_hold_the_challenge_points(tiny_demo, runs):
    from toolkit.mico.references import pooled_plan

    ctx = _ctx(tiny_demo)
    sc = ctx.track.scenario("demo_inf")
    sd = ctx.open(sc)
    small = replace(ctx.track, population_size=int(sd.union_points().max()))
    sd.track = small
    with pytest.raises(DataError, match="challenge points reach row"):
        pooled_plan(sd, ctx.track.references_of(sc))


def test_match_finds_the_recipe_the_provided_models_were_trained_with(tiny_demo, runs):
    """tiny_demo's models trained 15 epochs; told 30, --match's grid (15, 30, 60 epochs; lr ×½, ×2) goes back to 15."""
    args = ["references", "--track", "demo", "--data", str(tiny_demo), "-n", "2", "-s", "demo_inf", "--match"]
    out = CliRunner().invoke(cli, [*args, "--epochs", "30"])
    assert out.exit_code == 0, out.output
    assert "chose epochs 15, lr 0.05" in out.output
    assert "local references match the provided models" in out.output
