"""Every figure the README and docs/ quote from ``docs/results.json`` (``make results``) lies in its interval there.

A quoted figure is written ``0.442<!-- r:resnet18.default.hidden -->``: the marker names the figure, and
the number before it must lie within the figure's 95% interval, widened by half a unit of the last digit
shown (a figure quoted to three decimals is rounded).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
QUOTED = re.compile(r"(-?\d[\d,]*(?:\.(\d+))?)×?\**\s*<!-- r:([\w.\-]+) -->")
PAGES = [ROOT / "README.md", ROOT / "benchmarks" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def quoted(text: str) -> list[tuple[float, int, str]]:
    """(number, decimals shown, key) of every marked figure in ``text``."""
    return [(float(m[1].replace(",", "")), len(m[2] or ""), m[3]) for m in QUOTED.finditer(text)]


def test_the_marker_reads_the_number_before_it():
    text = "scored **0.442**<!-- r:a.b --> against 1,234<!-- r:c --> and 2.7×<!-- r:bf16.x -->"
    assert quoted(text) == [(0.442, 3, "a.b"), (1234.0, 0, "c"), (2.7, 1, "bf16.x")]


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_quoted_figures_lie_in_their_intervals(page):
    figures = json.loads((ROOT / "docs" / "results.json").read_text())["figures"]
    wrong = []
    for value, decimals, key in quoted(page.read_text()):
        if key not in figures:
            wrong.append(f"{key}: not in docs/results.json (make results)")
            continue
        lo, hi = figures[key]["ci"]
        slack = 0.5 * 10.0**-decimals
        if not lo - slack <= value <= hi + slack:
            wrong.append(f"{key}: quoted {value}, measured {figures[key]['value']:.4f} [{lo:.4f}, {hi:.4f}]")
    assert wrong == []


def test_the_readme_quotes_measured_figures():
    assert len(quoted((ROOT / "README.md").read_text())) >= 5


def test_printed_outputs_in_the_docs_are_the_measured_ones():
    """A page that shows a whole printed output (``<!-- output:demo -->``) shows the one ``make results`` kept."""
    outputs = json.loads((ROOT / "docs" / "results.json").read_text()).get("outputs", {})
    block = re.compile(r"<!-- output:([\w.\-]+) -->\n```\n(.*?)\n```\n<!-- /output -->", re.S)
    shown = [(m[1], m[2]) for page in PAGES for m in block.finditer(page.read_text())]
    assert shown, "no page shows a printed output"
    assert [(name, text == outputs.get(name)) for name, text in shown] == [(name, True) for name, _ in shown]


def test_write_outputs_replaces_only_the_marked_block(tmp_path):
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from results import write_outputs

    page = tmp_path / "a.md"
    page.write_text("intro\n<!-- output:demo -->\n```\nold\n```\n<!-- /output -->\n```\nother\n```\n")
    assert write_outputs({"demo": "new \\d line"}, tmp_path) == [page]
    assert (
        page.read_text() == "intro\n<!-- output:demo -->\n```\nnew \\d line\n```\n<!-- /output -->\n```\nother\n```\n"
    )
    assert write_outputs({"demo": "new \\d line"}, tmp_path) == []
