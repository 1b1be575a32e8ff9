"""End to end on a tiny demo challenge, through the CLI, and bad input at every stage."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from toolkit.cli import cli


def error_line(result) -> str:
    """The one error line (progress bars on stderr may precede it)."""
    lines = [ln for ln in result.output.replace("\r", "\n").splitlines() if ln.startswith("Error")]
    assert len(lines) == 1, result.output
    return lines[0]


def run(*args, ok=True):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def submitted(tiny_demo, tmp_path_factory):
    """The stages one by one: outputs → attack → package; returns (data, zip path, workdir)."""
    import os

    work = tmp_path_factory.mktemp("work")
    old = os.getcwd()
    os.chdir(work)
    try:
        run("outputs", "--track", "demo", "--data", tiny_demo)
        out = run("attack", "--track", "demo", "--data", tiny_demo).output
        assert "ranking figure" in out and "baseline" in out
        zip_path = Path(run("package", "--track", "demo", "--data", tiny_demo).output.strip().splitlines()[-1])
    finally:
        os.chdir(old)
    return tiny_demo, work / zip_path, work


def test_zip_layout_is_the_scorers(submitted):
    data, zip_path, _ = submitted
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
        assert all(n.startswith("demo/") for n in names)
        assert {n.split("/")[1] for n in names} == {"demo_inf", "demo_hi", "demo_lo"}
        assert {n.split("/")[2] for n in names} == {"dev", "final"}
        assert len(names) == 3 * 4  # 2 dev + 2 final models per scenario
        row = zf.read(names[0]).decode()
        values = [float(v) for v in row.strip().split(",")]
        assert len(values) == 200 and min(values) >= 0 and max(values) <= 1
    manifest = json.loads((zip_path.parent / "manifest.json").read_text())
    assert manifest["track"] == "demo" and manifest["packages"]["torch"]
    inf = manifest["scenarios"]["demo_inf"]
    assert inf["recipe"]["attack"] == "auto" and inf["recipe_origin"] == "auto"
    assert [r["label"] for r in inf["auto"]["ranking"] if r["chosen"]] == inf["auto"]["picked"]
    assert inf["auto"]["rule"] == "rank_top3" and inf["auto"]["chosen"].startswith("mean rank of ")
    assert "validation" in manifest["scenarios"]["demo_inf"]["metrics"]["recipe"]
    # prediction.csv files mirror the model folders beside the zip
    assert len(list(zip_path.parent.glob("demo/*/*/model_*/prediction.csv"))) == 12


def test_check_accepts_and_scores(submitted):
    data, zip_path, _ = submitted
    out = run("check", zip_path, "--track", "demo", "--data", data).output
    assert "format OK" in out and "TPR_FPR_1000" in out and "demo_lo" in out


def test_submit_prints_table_and_zip(submitted, monkeypatch):
    data, _, work = submitted
    monkeypatch.chdir(work)
    out = run(
        "submit", "--track", "demo", "--data", data, "--train-models", "6", "--dev-models", "2", "--final-models", "2"
    ).output  # the sizes tiny_demo was built with: nothing more to train
    assert "ranking figure, recipe" in out and "ranking figure, baseline" in out
    assert "auto ranking, demo_lo" in out and "<- chosen" in out
    assert "AUC" in out and "accuracy" in out and "MIA" in out
    *_, zip_line, report_line = out.strip().splitlines()  # the report's path comes last
    assert zip_line.startswith("submission: submissions/demo/") and report_line.startswith("report: submissions/demo/")


def _copy_scenario_data(data: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "data"
    shutil.copytree(data, dst)
    return dst


def test_missing_seed_file_is_one_line_error(submitted, tmp_path):
    data = _copy_scenario_data(submitted[0], tmp_path)
    (data / "demo/demo_inf/dev/model_6/seed_challenge").unlink()
    res = run("attack", "--track", "demo", "--data", data, ok=False)
    assert res.exit_code == 1
    assert "seed file missing" in error_line(res) and "Traceback" not in res.output


def test_corrupt_model_is_one_line_error(submitted, tmp_path):
    data = _copy_scenario_data(submitted[0], tmp_path)
    (data / "demo/demo_hi/final/model_9/model.pt").write_bytes(b"not a model at all")
    res = run("outputs", "--track", "demo", "--data", data, ok=False)
    assert res.exit_code == 1 and "cannot read model" in error_line(res)


def test_unknown_track_lists_valid_ones(tmp_path):
    res = run("attack", "--track", "nope", "--data", tmp_path, ok=False)
    assert res.exit_code == 1 and "unknown track 'nope'" in res.output and "demo" in res.output


def test_unknown_recipe_keeps_earlier_outputs(submitted, tmp_path, monkeypatch):
    data, zip_path, work = submitted
    tracks = tmp_path / "tracks"
    shutil.copytree(Path(__file__).resolve().parents[2] / "tracks" / "demo", tracks / "demo")
    toml = (tracks / "demo" / "track.toml").read_text().replace('attack = "auto"', 'attack = "no_such_attack"', 1)
    (tracks / "demo" / "track.toml").write_text(toml)
    monkeypatch.setenv("MIA_TRACKS_DIR", str(tracks))
    stage = Path(__import__("os").environ["MIA_RUNS_DIR"]) / "demo" / "attack" / "demo_inf.npz"
    before = stage.read_bytes()
    res = run("attack", "--track", "demo", "--data", data, ok=False)
    assert res.exit_code == 1 and "unknown attack 'no_such_attack'" in res.output and "hardness" in res.output
    assert stage.read_bytes() == before and zip_path.is_file()


def test_every_command_has_help_with_example():
    names = list(cli.commands)
    assert {"challenge", "outputs", "attack", "package", "check", "submit"} <= set(names)
    for name, cmd in cli.commands.items():
        text = run(name, "-h").output
        assert "Example" in text, name
        if hasattr(cmd, "commands"):
            for sub in cmd.commands:
                assert "Example" in run(name, sub, "-h").output, f"{name} {sub}"


def test_public_names_exist():
    import importlib
    import pkgutil

    import toolkit

    for info in pkgutil.walk_packages(toolkit.__path__, "toolkit."):
        mod = importlib.import_module(info.name)
        for name in getattr(mod, "__all__", []):
            assert hasattr(mod, name), f"{info.name}.__all__ names missing {name}"
