"""One ``mia submit`` of the tiny demo, shared by the report's tests (its sizes: nothing is trained)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from toolkit.cli import cli

SIZES = ["--train-models", "6", "--dev-models", "2", "--final-models", "2"]  # the tiny_demo fixture's


@pytest.fixture(scope="session")
def demo_run(tiny_demo, tmp_path_factory) -> tuple[Path, str]:
    """(the run folder, the printed output) of ``mia submit --track demo`` on the tiny demo."""
    work = tmp_path_factory.mktemp("report_work")
    old = os.getcwd()
    os.chdir(work)
    try:
        res = CliRunner().invoke(
            cli, ["submit", "--track", "demo", "--data", str(tiny_demo), *SIZES], catch_exceptions=False
        )
    finally:
        os.chdir(old)
    assert res.exit_code == 0, res.output
    last = res.output.strip().splitlines()[-1]
    assert last.startswith("report: "), res.output
    page = work / last[len("report: ") :]
    assert page.name == "report.html" and page.is_file()
    return page.parent, res.output
