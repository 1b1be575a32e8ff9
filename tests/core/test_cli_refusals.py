"""Every refusal through the CLI is one line starting ``Error:`` with exit status 1, never a traceback.

Hostile inputs: zips (not a zip, a bomb, a symlink entry, a '..' name) to ``mia check
--format-only``, track names that are no track, a ``dataset_purchase`` cut to 1,000 rows and a
corrupt model to ``mia outputs``, and the storage errors a stage can meet while writing.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import zipfile

import pytest
from click.testing import CliRunner
from fuzz_contract import stored_zip

from toolkit.cli import ToolkitGroup, cli


def refusal(*args) -> str:
    """Run ``mia args``; assert it was refused in one ``Error:`` line; return that line."""
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    lines = [ln for ln in result.output.replace("\r", "\n").splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    assert lines[-1] == errors[0], result.output  # nothing after it: the error line is the end
    return errors[0]


def _zip(entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in entries:
            zf.writestr(info, data)
    return buf.getvalue()


def _symlink() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("demo/demo_inf/dev/model_1/prediction.csv")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


HOSTILE_ZIPS = {
    "not_a_zip": (b"PK\x03\x04 this is not a zip", "not a valid zip"),
    "empty": (b"", "not a valid zip"),
    "bomb": (_zip([("demo/demo_inf/dev/model_1/prediction.csv", b"0," * (4 * 1024 * 1024))]), "once inflated"),
    "symlink": (_zip([(_symlink(), b"/etc/passwd")]), "symlink entry"),
    "dotdot": (stored_zip([("demo/../../etc/passwd", b"x")]), "unsafe path"),
    "newline_name": (stored_zip([("demo/demo_inf/dev/model_1/\nprediction.csv", b"0.5")]), "unsafe path"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_ZIPS))
def test_a_hostile_zip_to_check_is_one_error_line(tmp_path, kind):
    data, rule = HOSTILE_ZIPS[kind]
    path = tmp_path / f"{kind}.zip"
    path.write_bytes(data)
    line = refusal("check", path, "--track", "demo", "--format-only")
    assert rule in line and str(path) in line


@pytest.mark.parametrize("name", ["nope", "de mo", "../tracks/demo", "demo\nx", ".hidden", ""])
def test_a_track_name_that_is_no_track_is_one_error_line(tmp_path, name):
    line = refusal("outputs", "--track", name, "--data", tmp_path)
    assert "track" in line and "demo" in line  # the valid names are listed


def test_a_purchase_file_cut_to_1000_rows_is_one_error_line(tmp_path):
    """The issue's case: the real purchase100 track, its dataset file cut to 1,000 rows."""
    from mico_fixtures import write_purchase, write_scenario, write_weights

    data = tmp_path / "data"
    write_purchase(data / "purchase100" / "dataset_purchase", n=1000)
    write_scenario(
        data,
        "purchase100",
        "purchase100_inf",
        197_324,
        150_000,
        100,
        counts=(1, 1, 1),
        weights=lambda md, s, i: write_weights(md, "mico_mlp", 100, i),
    )
    line = refusal("outputs", "--track", "purchase100", "--data", data, "--cache-dir", tmp_path / "cache")
    assert "dataset_purchase holds 1,000 rows" in line and "needs 197,324" in line


def test_a_corrupt_model_is_one_error_line(tmp_path):
    from mico_fixtures import write_scenario, write_weights

    data = tmp_path / "data"
    for k, sc in enumerate(("demo_inf", "demo_hi", "demo_lo")):
        write_scenario(
            data,
            "demo",
            sc,
            1797,
            500,
            100,
            counts=(1, 1, 1),
            seed=k,
            weights=lambda md, s, i: write_weights(md, "demo_mlp", 10, i),
        )
    bad = sorted((data / "demo" / "demo_hi" / "dev").glob("model_*"))[0] / "model.pt"
    bad.write_bytes(bad.read_bytes()[:300])  # truncated
    line = refusal("outputs", "--track", "demo", "--data", data, "--cache-dir", tmp_path / "cache")
    assert str(bad) in line and "not a readable PyTorch file" in line


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_a_storage_error_while_writing_is_one_error_line(code):
    group = ToolkitGroup(name="mia")

    @group.command()
    def write():
        raise OSError(code, os.strerror(code), "/somewhere/demo.zip")

    result = CliRunner().invoke(group, ["write"], catch_exceptions=False)
    assert result.exit_code == 1
    assert (
        result.output.strip() == f"Error: {os.strerror(code)}: /somewhere/demo.zip (free space or choose a "
        "writable folder; files already written are whole)"
    )
