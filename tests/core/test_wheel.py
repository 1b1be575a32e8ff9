"""A wheel that works: built from this checkout, installed alone, it carries the built-in tracks.

Installed with ``--no-deps`` into a temporary target (the dependencies come from this environment),
run from an empty folder so that neither the checkout nor its tracks/ folder is in reach.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out, src = tmp_path_factory.mktemp("wheel"), tmp_path_factory.mktemp("src") / "checkout"
    # a clean copy: a stale build/ folder in the checkout could hand the wheel files setup.py no longer ships
    top = {".git", ".venv", "build", ".cache", "runs", "data", "submissions"}  # only at the top: toolkit/data stays
    shutil.copytree(
        ROOT,
        src,
        ignore=lambda d, names: [
            n for n in names if (Path(d) == ROOT and n in top) or n.endswith(".egg-info") or n == "__pycache__"
        ],
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        pytest.fail(f"building the wheel failed: {proc.stderr[-2000:]}")
    (path,) = out.glob("mia_toolkit-*.whl")
    return path


def test_the_wheel_ships_every_package_and_the_built_in_tracks(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    tracks = sorted(p.parent.name for p in (ROOT / "tracks").glob("*/track.toml"))
    assert tracks and all(f"toolkit/builtin_tracks/{t}/track.toml" in names for t in tracks)
    packages = {str(p.parent.relative_to(ROOT)) for p in (ROOT / "toolkit").rglob("__init__.py")}
    assert all(f"{pkg}/__init__.py" in names for pkg in packages)
    assert "toolkit/choose/selection_prior.json" in names  # auto's rule "shrunk" reads it


def test_installed_wheel_builds_the_demo_from_an_empty_folder(wheel, tmp_path):
    target, cwd = tmp_path / "site", tmp_path / "empty"
    cwd.mkdir()
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env = {**os.environ, "PYTHONPATH": str(target), "MIA_RUNS_DIR": str(tmp_path / "runs")}
    env.pop("MIA_TRACKS_DIR", None)
    where = subprocess.run(
        [
            sys.executable,
            "-c",
            "import toolkit, toolkit.tracks as t; print(toolkit.__file__);print(t.load_track('demo').path)",
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert all(Path(p).is_relative_to(target) for p in where), where  # not the checkout
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "toolkit.cli",
            "challenge",
            "build",
            "--track",
            "demo",
            "--data",
            "data",
            "--train-models",
            "2",
            "--dev-models",
            "1",
            "--final-models",
            "1",
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "challenge ready" in run.stdout
    assert len(list((cwd / "data" / "demo").glob("demo_inf/*/model_*/model.pt"))) == 4
