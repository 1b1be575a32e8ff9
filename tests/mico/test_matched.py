"""Matched references (``mia references --matched``) on a tiny demo challenge whose targets reveal seed_training."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

from toolkit.cli import cli


@pytest.fixture(scope="module")
def revealed(tmp_path_factory):
    """demo_inf with 4 train, 1 dev and 1 final model, the dev/final folders revealing seed_training (as ddp's)."""
    import torch

    from toolkit.mico.build import build_challenge
    from toolkit.tracks import load_track

    torch.set_num_threads(1)
    data = tmp_path_factory.mktemp("revealed")
    track = load_track("demo")
    build = replace(track.build, epochs=6, reveal_training=True)
    track = replace(track, build=build, scenarios=track.scenarios[:1])
    build_challenge(track, data, train_models=4, dev_models=1, final_models=1, progress=False)
    return data, track


@pytest.fixture()
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("MIA_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("MIA_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def _references(data, *extra):
    args = ["references", "--track", "demo", "--data", str(data), "-s", "demo_inf", "--matched", "-n", "2", *extra]
    return CliRunner().invoke(cli, args)


def test_matched_references_per_target_score_the_targets(revealed, runs):
    from toolkit.context import Context
    from toolkit.mico.matched import load_matched, matched_pointer
    from toolkit.mico.pipeline import stage_attack

    data, track = revealed
    out = _references(data, "--epochs", "6")
    assert out.exit_code == 0, out.output
    assert "2 matched references for each of 6 targets" in out.output  # 4 train (validation) + dev + final
    ctx = Context(track=track, data_dir=data, progress=False)
    sc = track.scenario("demo_inf")
    sd = ctx.open(sc)
    matched = load_matched(sd)
    assert sorted(matched) == [("dev", 4), ("final", 5)] + [("train", i) for i in range(4)]  # ids run on
    for key, local in matched.items():
        split = sd.splits[key]
        pts = np.asarray(split.challenge)
        keep = local.keep(pts)
        assert keep.shape == (2, len(pts)) and (keep.sum(axis=0) == 1).all()  # each point IN for one of the pair
        known = np.setdiff1d(np.asarray(split.training), pts)
        assert local.keep(known).all()  # the target's other training rows are IN for every matched reference
    summary = stage_attack(ctx, baseline=False)["demo_inf"]
    assert summary["calibration"] == "matched references per target"
    assert summary["matched"]["per_target"] == 2 and summary["recipe_origin"] == "matched references"
    again = _references(data, "--epochs", "6")  # resumed: nothing left to train, the same pointer
    assert again.exit_code == 0 and json.loads(matched_pointer(track, sc).read_text())["targets"]


def test_matched_references_need_revealed_training_sets(tiny_demo, runs):
    out = _references(tiny_demo)
    assert out.exit_code != 0
    errors = [ln for ln in out.output.splitlines() if ln.startswith("Error")]
    assert len(errors) == 1 and "reveals no seed_training" in errors[0], out.output
