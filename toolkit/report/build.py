"""Draw a report from its data: the PNGs beside it and one self-contained ``report.html``.

The page is one HTML file (``string.Template``, inline CSS, no JavaScript): figures are embedded as
``data:image/png;base64`` URIs, so the file opens anywhere on its own; the same PNGs lie beside it.
Every value the page shows is escaped.

``write_report`` renders a ``ReportData`` into a folder; ``rebuild`` finds the report data of a run
folder (or of one run's file) and renders it again, as ``mia report`` does. File names: a MICO run
folder holds ``report.html``, ``report.npz`` and ``report_<scenario>_<figure>.png``; runs that share
a folder (the ResNet18 task's ``<run>.csv``) prefix them with ``<run>.``.
"""

from __future__ import annotations

import base64
import re
from html import escape
from pathlib import Path
from string import Template

from toolkit.errors import DataError
from toolkit.io import atomic_write_bytes, atomic_write_text, sweep_stale_temporaries
from toolkit.report.data import ReportData, load_report_data

__all__ = [
    "REPORT_HTML",
    "REPORT_DATA",
    "figure_names",
    "render",
    "write_report",
    "report_files",
    "rebuild",
]

REPORT_HTML = "report.html"
REPORT_DATA = "report.npz"
SPLIT_ORDER = ("validation", "dev", "final")


_PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>$title</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1150px; color: #222; }
h1 { font-size: 1.5em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 1.6em; }
h3 { font-size: 1.05em; margin-bottom: .3em; }
table { border-collapse: collapse; margin: .5em 0 1em; font-size: .85em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f6f6; padding: .6em; overflow-x: auto; font-size: .72em; }
figure { margin: .6em 0 1.2em; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .8em; color: #555; }
.note { color: #555; font-size: .85em; }
</style>
</head>
<body>
<h1>$title</h1>
<p class="note">$subtitle</p>
$body
</body>
</html>
""")


def _cell(value) -> str:
    if isinstance(value, float):
        return f'<td class="num">{value:.4f}</td>'
    return f"<td>{escape(str(value))}</td>"


def _table(header: list[str], rows: list[list]) -> str:
    """An HTML table; floats with 4 decimals, everything escaped."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _figure(name: str, png: bytes, caption: str) -> str:
    """An embedded PNG (data URI) with its caption and the name of the file beside the report."""
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return (
        f'<figure id="{escape(name)}"><img src="{uri}" alt="{escape(caption)}">'
        f"<figcaption>{escape(caption)} ({escape(name)})</figcaption></figure>"
    )


def _pre(text: str) -> str:
    """Preformatted text, as a terminal printed it."""
    return f"<pre>{escape(text)}</pre>"


def _page(title: str, subtitle: str, body: str) -> str:
    """The whole document."""
    return _PAGE.substitute(title=escape(title), subtitle=escape(subtitle), body=body)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name)


def _splits(entry: dict) -> list[str]:
    splits = entry.get("splits", {})
    return [s for s in SPLIT_ORDER if s in splits] + [s for s in splits if s not in SPLIT_ORDER]


def figure_names(data: ReportData, prefix: str = "") -> list[str]:
    """The PNG files a report of ``data`` draws, in page order."""
    names = []
    for entry in data.meta.get("scenarios", []):
        base = f"{prefix}report_{_safe(entry['name'])}"
        names += [f"{base}_{_safe(split)}_roc.png" for split in _splits(entry)]
        if _hist_panels(data, entry):
            names.append(f"{base}_hist.png")
    return names


def _hist_panels(data: ReportData, entry: dict) -> dict:
    key = entry.get("recipe_key", "recipe")
    return {
        split: data.curve(entry["name"], split, key)[:2] for split in _splits(entry) if key in entry["splits"][split]
    }


def _scenario_figures(data: ReportData, entry: dict, prefix: str) -> list[tuple[str, bytes, str]]:
    """Every figure of one scenario: its curves are read first, then drawn (a ROC per split, the histograms)."""
    from toolkit.report.figures import histogram_png, roc_png

    fpr = float(data.meta["leaderboard_fpr"])
    labels = entry.get("labels", {})
    titles = data.meta.get("split_titles", {})
    base = f"{prefix}report_{_safe(entry['name'])}"
    rank = {m: i for i, m in enumerate(labels)}  # the legend's order (recipe, baseline, families): stable colours
    splits = _splits(entry)
    panels = _hist_panels(data, entry)
    curves = {
        split: {
            labels.get(m, m): data.curve(entry["name"], split, m)[:2]
            for m in sorted(entry["splits"][split], key=lambda m: rank.get(m, len(rank)))
        }
        for split in splits
    }
    hist = []  # drawn first, shown last
    if panels:
        key = entry.get("recipe_key", "recipe")
        title = f"{entry['name']}: scores of {labels.get(key, key)}"
        hist.append((f"{base}_hist.png", histogram_png(panels, title), f"score histograms, {title}"))
    out = []
    for split in splits:
        title = f"{entry['name']}: {titles.get(split, split)}"
        png = roc_png(curves[split], title, fpr, ceiling=entry.get("dp_ceiling"))
        out.append((f"{base}_{_safe(split)}_roc.png", png, f"ROC, {title}"))
    return out + hist


def _ranking(rank: dict | None, labels: dict, fpr: float) -> str:
    """A ranking table: rows of method, value and CI (and any further columns the rows carry)."""
    if not rank:
        return ""
    extra = list(dict.fromkeys(k for row in rank["rows"] for k in row if k not in ("method", "value", "ci")))
    rows = [
        [i + 1, labels.get(r["method"], r["method"]), float(r["value"]), float(r["ci"][0]), float(r["ci"][1])]
        + [r.get(k, "") for k in extra]
        for i, r in enumerate(rank["rows"])
    ]
    head = ["rank", "method", rank.get("value", f"TPR at FPR < {fpr:g}"), "CI low", "CI high"] + extra
    title = rank.get("title", f"Ranking on the {rank['split']} split")
    return f'<h3>{escape(title)}</h3><p class="note">{escape(rank.get("how", ""))}</p>' + _table(head, rows)


def _key_values(title: str, values: dict | None) -> str:
    if not values:
        return ""
    rows = [[k, float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v] for k, v in values.items()]
    return f"<h3>{escape(title)}</h3>" + _table(["", "value"], rows)


def _board(entry: dict, labels: dict) -> str:
    board = entry.get("board_slice")
    if not board:
        return ""
    cols = ["mean", "std", "p5", "p95"]
    rows = [
        [labels.get(m, m)] + [float(b[c]) for c in cols] + [b.get("per_class", ""), b.get("n_sims", "")]
        for m, b in board.items()
    ]
    return "<h3>Simulated leaderboard slices (TPR at the board's FPR, strict)</h3>" + _table(
        ["method"] + cols + ["points per class", "slices"], rows
    )


def _scenario_html(data: ReportData, entry: dict, figures: list[tuple[str, bytes, str]]) -> str:
    labels = entry.get("labels", {})
    parts = [f"<h2>{escape(entry['name'])}</h2>"]
    parts += [f"<p>{escape(line)}</p>" for line in entry.get("choice", [])]
    fpr = float(data.meta["leaderboard_fpr"])
    parts.append(_ranking(entry.get("ranking"), labels, fpr))
    parts.append(_ranking(entry.get("auto_ranking"), {}, fpr))
    parts.append(_key_values("Empirical ε lower bound (validation split)", entry.get("epsilon")))
    parts.append(_key_values("DP ceiling (from the training recipe)", entry.get("dp_ceiling", {}).get("values")))
    parts.append(_board(entry, labels))
    parts += [_figure(name, png, caption) for name, png, caption in figures]
    parts += [f'<p class="note">{escape(n)}</p>' for n in entry.get("notes", [])]
    return "\n".join(p for p in parts if p)


def render(data: ReportData, prefix: str = "") -> tuple[str, dict[str, bytes]]:
    """(the HTML page, {PNG file name: bytes}) of a report."""
    meta = data.meta
    pngs: dict[str, bytes] = {}
    body = [f"<h2>Metrics as printed</h2>{_pre(meta.get('printed', ''))}"]
    for entry in meta.get("scenarios", []):
        figures = _scenario_figures(data, entry, prefix)
        pngs.update({name: png for name, png, _ in figures})
        body.append(_scenario_html(data, entry, figures))
    timings = meta.get("timings") or {}
    if timings:
        body.append(
            "<h2>Run time per stage</h2>" + _table(["stage", "seconds"], [[k, float(v)] for k, v in timings.items()])
        )
    provenance = [[k, v] for k, v in meta.get("provenance", {}).items()]
    body.append("<h2>Provenance</h2>" + _table(["", "value"], provenance))
    body += [f'<p class="note">{escape(n)}</p>' for n in meta.get("notes", [])]
    subtitle = (
        f"track {meta.get('track')} · submission {meta.get('submission')} · leaderboard operating point: "
        f"FPR {float(meta['leaderboard_fpr']):g}"
    )
    return _page(meta.get("title", "report"), subtitle, "\n".join(body)), pngs


def write_report(folder: Path, data: ReportData, prefix: str = "") -> Path:
    """Write the PNGs and ``<prefix>report.html`` into ``folder``; return the page's path."""
    folder = Path(folder)
    sweep_stale_temporaries([folder])  # a killed report's leftovers, once old enough not to be a live run's
    page, pngs = render(data, prefix)
    for name, png in pngs.items():
        atomic_write_bytes(folder / name, png)
    path = folder / f"{prefix}{REPORT_HTML}"
    atomic_write_text(path, page)
    return path


def report_files(path: Path) -> list[tuple[Path, str]]:
    """(folder, prefix) of every report's data under a run folder, or of the run a file belongs to."""
    path = Path(path)
    if path.is_file():
        own = path.name in (REPORT_DATA, REPORT_HTML, "manifest.json") or path.suffix == ".zip"
        found = [(path.parent, "" if own else f"{path.name.split('.')[0]}.")]
    elif path.is_dir():
        found = (
            [(path, "")]
            if (path / REPORT_DATA).is_file()
            else [(path, p.name[: -len(REPORT_DATA)]) for p in sorted(path.glob(f"*.{REPORT_DATA}"))]
        )
    else:
        raise DataError(f"no such run folder or file: {path}")
    found = [(f, p) for f, p in found if (f / f"{p}{REPORT_DATA}").is_file()]
    if not found:
        raise DataError(
            f"no report data ({REPORT_DATA}) for {path}",
            "pass a run folder written by `mia submit` (submissions/<track>/<run>/), or re-run it",
        )
    return found


def rebuild(path: Path) -> list[Path]:
    """Draw again every report of a run folder (or of the run a file belongs to) from its data; the pages."""
    return [
        write_report(folder, load_report_data(folder / f"{prefix}{REPORT_DATA}"), prefix)
        for folder, prefix in report_files(path)
    ]
