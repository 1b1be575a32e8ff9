"""The report writer: every listed figure on the page and beside it, nothing external, rebuilds alike."""

from __future__ import annotations

import base64
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from toolkit.cli import cli
from toolkit.errors import DataError
from toolkit.metrics import roc, tpr_at_fpr
from toolkit.report import REPORT_DATA, ReportData, figure_names, load_report_data, rebuild, write_report
from toolkit.report.figures import strict_tpr


class Refs(HTMLParser):
    """Every tag's src/href, the <img> sources and ids, and whether there is a <script>."""

    def __init__(self):
        super().__init__()
        self.refs, self.images, self.ids, self.script = [], [], [], False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.refs += [a[k] for k in ("src", "href") if k in a]
        if tag == "img":
            self.images.append(a["src"])
        if tag == "figure":
            self.ids.append(a["id"])
        self.script |= tag == "script"


def parse(page: Path) -> Refs:
    refs = Refs()
    refs.feed(page.read_text())
    return refs


def decode_png(uri: str) -> bytes:
    head, _, data = uri.partition(",")
    assert head == "data:image/png;base64"
    png = base64.b64decode(data, validate=True)
    from PIL import Image

    Image.open(io.BytesIO(png)).verify()  # a whole, decodable PNG
    return png


def synthetic(seed: int = 0) -> ReportData:
    """Two scenarios, three splits, a family, a ranking, an ε table and a board slice."""
    rng = np.random.default_rng(seed)
    data = ReportData(
        {
            "title": "synthetic",
            "track": "t",
            "submission": "t.zip",
            "leaderboard_fpr": 0.1,
            "printed": "a <b> table & more",
            "timings": {"attack": 1.5},
            "provenance": {"git commit": "abc", "seeds": "0"},
        }
    )
    for sc in ("s1", "s 2"):
        entry = data.scenario(sc)
        entry["labels"] = {"recipe": "recipe: x", "baseline": "baseline: y", "lira": "lira (defaults)"}
        for split in ("final", "validation", "dev"):
            y = rng.integers(0, 2, 400)
            for gap, method in ((1.0, "recipe"), (0.3, "baseline"), (0.6, "lira")):
                if split != "validation" and method == "lira":
                    continue
                data.add(sc, split, method, y, rng.normal(size=400) + gap * y, np.repeat(np.arange(4), 100))
        entry["ranking"] = {
            "split": "validation",
            "how": "test",
            "rows": [{"method": "recipe", "value": 0.3, "ci": [0.2, 0.4], "AUC": 0.7}],
        }
        entry["epsilon"] = {"claimed": 4.0, "eps_lower": 0.1}
        entry["board_slice"] = {"recipe": {"mean": 0.2, "std": 0.01, "p5": 0.18, "p95": 0.22}}
    return data


def test_every_listed_figure_is_embedded_and_beside_the_page(tmp_path):
    data = synthetic()
    page = write_report(tmp_path, data)
    names = figure_names(data)
    assert len(names) == 2 * (3 + 1)  # per scenario: a ROC per split and the histograms
    refs = parse(page)
    assert refs.ids == names  # in page order
    for name, uri in zip(names, refs.images):
        assert decode_png(uri) == (tmp_path / name).read_bytes()
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(names)


def test_the_page_is_self_contained_and_escaped(tmp_path):
    page = write_report(tmp_path, synthetic())
    refs = parse(page)
    assert not refs.script
    assert refs.refs and all(r.startswith("data:image/png;base64,") for r in refs.refs)
    text = page.read_text()
    assert not re.search(r"(src|href)\s*=\s*[\"'](?!data:)", text) and "url(" not in text and "@import" not in text
    assert "a &lt;b&gt; table &amp; more" in text and "s 2" in text


def test_report_data_round_trip(tmp_path):
    data = synthetic()
    data.save(tmp_path / REPORT_DATA)
    back = load_report_data(tmp_path / REPORT_DATA)
    assert back.meta == json.loads(json.dumps(data.meta))
    assert back.curves.keys() == data.curves.keys()
    np.testing.assert_array_equal(back.curve("s1", "dev", "recipe")[1], data.curve("s1", "dev", "recipe")[1])


@pytest.mark.parametrize("seed", range(4))
def test_strict_tpr_is_the_scorers(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 500)
    for s in (rng.normal(size=500) + y, np.round(rng.normal(size=500) + y, 1), rng.integers(0, 3, 500) + y):
        for x in (0.001, 0.01, 0.05, 0.1, 0.2, 0.5):
            assert strict_tpr(y, s, x) == tpr_at_fpr(*roc(y, s), x)


def test_rebuild_without_data_is_one_line_error(tmp_path):
    with pytest.raises(DataError, match="no report data"):
        rebuild(tmp_path)
    res = CliRunner().invoke(cli, ["report", str(tmp_path / "missing")])
    assert res.exit_code == 1 and res.output.startswith("Error: no such run folder") and "Traceback" not in res.output


def test_submit_writes_the_report_last(demo_run):
    folder, output = demo_run
    lines = output.strip().splitlines()
    assert lines[-2].startswith("submission: submissions/demo/") and lines[-1].endswith("/report.html")
    assert "ranking figure, recipe" in output and "stage seconds:" in output
    data = load_report_data(folder / REPORT_DATA)
    assert [e["name"] for e in data.meta["scenarios"]] == ["demo_inf", "demo_hi", "demo_lo"]
    inf = data.meta["scenarios"][0]
    assert set(inf["splits"]) == {"validation", "dev", "final"}  # the demo knows its dev/final answers
    assert {"recipe", "baseline", "lira", "rmia"} <= set(inf["splits"]["validation"])
    assert inf["splits"]["final"] == ["recipe", "baseline"]
    assert {r["method"] for r in inf["ranking"]["rows"]} == set(inf["splits"]["validation"])
    assert data.meta["timings"].keys() >= {"outputs", "attack", "package", "check"}
    assert data.meta["provenance"]["git commit"] is not None
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {"outputs", "attack"} <= set(manifest["timings"])
    page = (folder / "report.html").read_text()
    assert "ranking figure, recipe" in page and "Provenance" in page and "leaderboard operating point: FPR 0.1" in page


def test_mia_report_rebuilds_the_same_figures(demo_run, tmp_path):
    folder, _ = demo_run
    before = {p.name: p.read_bytes() for p in folder.glob("report_*.png")}
    page = folder / "report.html"
    ids = parse(page).ids
    page.unlink()
    for p in folder.glob("report_*.png"):
        p.unlink()
    res = CliRunner().invoke(cli, ["report", str(folder)], catch_exceptions=False)
    assert res.exit_code == 0 and res.output.strip() == f"report: {page}"
    after = {p.name: p.read_bytes() for p in folder.glob("report_*.png")}
    assert sorted(after) == sorted(before) == sorted(ids)
    assert after == before  # drawn from the same data, byte for byte
    assert parse(page).ids == ids


def test_tml_report_from_manifest_and_scores(tmp_path):
    from toolkit.tml.pipeline import validate
    from toolkit.tml.report import save_oof, write_tml_report
    from toolkit.tracks import load_track

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 600)
    oof = {"ensemble": rng.normal(size=600) + y, "threshold": rng.normal(size=600) + 0.3 * y}
    csv = tmp_path / "r1.csv"
    csv.write_text("ids,score\n")
    manifest = {
        "track": "resnet18",
        "recipe": {"attack": "ensemble", "model": "mlp"},
        "folds": 5,
        "seed": 0,
        "views": ["orig"],
        "csv": str(csv),
        "manifest": str(tmp_path / "r1.manifest.json"),
        "scores": str(save_oof(tmp_path / "r1.scores.npz", y, oof)),
        "validation": {k: validate(y, s, n_boot=20, n_sims=20) for k, s in oof.items()},
    }
    page = write_tml_report(load_track("resnet18"), manifest, {"submit": 1.0})
    assert page == tmp_path / "r1.report.html"
    text = page.read_text()
    assert "leaderboard operating point: FPR 0.05" in text and "Simulated leaderboard slices" in text
    assert parse(page).ids == ["r1.report_resnet18_validation_roc.png", "r1.report_resnet18_hist.png"]
    data = load_report_data(tmp_path / "r1.report.npz")
    assert data.meta["scenarios"][0]["splits"]["validation"] == ["recipe", "baseline"]
    assert rebuild(csv) == [page] and rebuild(tmp_path) == [page]


def test_the_dp_ceiling_is_a_dashed_line_on_both_panels(monkeypatch, tmp_path):
    """Every ROC figure of a scenario with a ceiling draws it dashed on the linear (labelled) and log-log panels."""
    from matplotlib.axes import Axes

    drawn = []
    plot = Axes.plot

    def spy(ax, *args, **kw):
        drawn.append((kw.get("ls"), kw.get("label"), list(args[0]) if args else None))
        return plot(ax, *args, **kw)

    monkeypatch.setattr(Axes, "plot", spy)
    data = synthetic()
    ceiling = {"fpr": [1e-4, 0.1, 1.0], "tpr": [0.01, 0.4, 1.0], "label": "DP ceiling (ε=4): TPR ≤ 0.400"}
    data.scenario("s1")["dp_ceiling"] = ceiling | {"values": {"ε, δ": "4, 1e-05"}}
    page = write_report(tmp_path, data)
    dashed = [d for d in drawn if d[2] == ceiling["fpr"]]
    assert len(dashed) == 2 * 3 and all(d[0] == "--" for d in dashed)  # two panels, three splits; s 2 has none
    assert [d[1] for d in dashed] == [ceiling["label"], None] * 3
    assert page.read_text().count("DP ceiling (from the training recipe)") == 1


def test_dp_scenarios_carry_their_ceiling_to_table_manifest_and_page(demo_run):
    folder, output = demo_run
    printed = [ln for ln in output.splitlines() if ln.startswith("DP ceiling")]
    assert [ln.split(":")[0] for ln in printed] == ["DP ceiling, demo_hi", "DP ceiling, demo_lo"]
    assert all("no attack can pass" in ln and "T=40" in ln and "dp-accounting" in ln for ln in printed)
    manifest = json.loads((folder / "manifest.json").read_text())["scenarios"]
    assert "dp_ceiling" not in manifest["demo_inf"]
    lo = manifest["demo_lo"]["dp_ceiling"]
    assert (lo["epsilon"], lo["delta"], lo["sample_rate"], lo["steps"]) == (4.0, 1e-5, 0.5, 40)
    assert lo["noise_multiplier"] > 0 and lo["library"].startswith("dp-accounting ")
    assert lo["tpr_ceiling"]["TPR_FPR_1000"] < manifest["demo_hi"]["dp_ceiling"]["tpr_ceiling"]["TPR_FPR_1000"]
    entries = {e["name"]: e for e in load_report_data(folder / REPORT_DATA).meta["scenarios"]}
    assert "dp_ceiling" not in entries["demo_inf"]
    curve = entries["demo_lo"]["dp_ceiling"]
    assert curve["label"].startswith("DP ceiling") and len(curve["fpr"]) == len(curve["tpr"]) > 100
    assert np.interp(0.1, curve["fpr"], curve["tpr"]) == pytest.approx(lo["tpr_ceiling"]["TPR_FPR_1000"], abs=0.01)
    assert (folder / "report.html").read_text().count("DP ceiling (from the training recipe)") == 2
