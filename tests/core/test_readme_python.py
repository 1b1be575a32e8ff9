"""The README's "Use from Python" example runs as written, on the tiny demo challenge.

The example takes its data folder from ``$DATA`` (as the CLI does), so the test points ``DATA`` at
the ``tiny_demo`` fixture and runs every ``python`` block of the section in one namespace, in a
temporary working folder (the example writes ``submissions/``). ``MIA_README`` may name another
file holding the section (to try a draft).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

HEADING = "## Use from Python"
README = Path(os.environ.get("MIA_README") or Path(__file__).resolve().parents[2] / "README.md")


def python_blocks(text: str) -> list[str]:
    """The ```python blocks between the heading and the next ``## `` heading."""
    lines = text.splitlines()
    if HEADING not in lines:
        pytest.fail(f"{README} has no {HEADING!r} heading: this test runs that section's python code block(s)")
    start = lines.index(HEADING) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return re.findall(r"^```python\n(.*?)^```", "\n".join(lines[start:end]) + "\n", re.S | re.M)


def test_use_from_python_runs_on_the_demo(request, tmp_path, monkeypatch, capsys):
    blocks = python_blocks(README.read_text())  # before the fixture: a missing section fails at once
    assert blocks, f"no ```python block under {HEADING!r} in {README}"
    assert 5 <= sum(len(b.strip().splitlines()) for b in blocks) <= 25
    monkeypatch.setenv("DATA", str(request.getfixturevalue("tiny_demo")))
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "readme_example"}
    for code in blocks:
        exec(compile(code, f"{README.name}: {HEADING}", "exec"), namespace)
    out = capsys.readouterr().out
    assert "TPR at FPR < 10%" in out and "ranking figure, recipe" in out
    page = Path(out.strip().splitlines()[-1])
    assert page.name == "report.html" and (tmp_path / page).is_file()
