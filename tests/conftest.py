"""Shared fixtures: an isolated cache/runs folder per session and one tiny demo challenge."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

import pytest

# The shared fixture writers (mico_fixtures, fixtures_tml) live here; tests in the subfolders import them.
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session", autouse=True)
def _isolated_dirs(tmp_path_factory):
    """Keep the user's .cache/ and runs/ untouched: every test writes under a temporary root."""
    root = tmp_path_factory.mktemp("mia")
    old = {k: os.environ.get(k) for k in ("MIA_CACHE_DIR", "MIA_RUNS_DIR")}
    os.environ["MIA_CACHE_DIR"] = str(root / "cache")
    os.environ["MIA_RUNS_DIR"] = str(root / "runs")
    yield root
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory) -> Path:
    """A demo challenge with 6 train, 2 dev and 2 final models per scenario, trained briefly."""
    import torch

    from toolkit.mico.build import build_challenge
    from toolkit.tracks import load_track

    torch.set_num_threads(1)
    data = tmp_path_factory.mktemp("demo_data")
    track = load_track("demo")
    track = replace(track, build=replace(track.build, epochs=15, dp_epochs=3))
    build_challenge(track, data, train_models=6, dev_models=2, final_models=2, progress=False)
    return data
