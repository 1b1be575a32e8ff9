"""What ``submit`` prints for the ResNet18 task, and the report it writes beside ``<run>.csv``.

``format_validation`` is the printed summary: shadows and their check, the ranking, the choice, the
cost; the report's page shows it as printed. ``oof_npz`` is the file of the public set's out-of-fold
scores (``<run>.scores.npz``, ``save_oof``) that the report's curves are drawn from (``load_oof``).

The task's answers are only known on the public set, so its curves are the out-of-fold scores of
the candidates validated there (``<run>.scores.npz``, written by ``make_submission``): the one
submitted, the threshold baseline and the next best of the ranking. The whole ranking with its
CIs, the shadows' check against the target and the simulated leaderboard slices come from the
manifest. Runs share
one folder, so the files are ``<run>.report.html``, ``<run>.report.npz`` and ``<run>.report_*.png``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from toolkit.io import atomic_write_bytes
from toolkit.report.build import REPORT_DATA, write_report
from toolkit.report.data import ReportData, provenance
from toolkit.tml.board import FPR, INCLUSIVE, STRICT
from toolkit.tracks import Recipe

__all__ = [
    "BASELINES",
    "format_validation",
    "ranking_lines",
    "corrected_lines",
    "oof_npz",
    "save_oof",
    "load_oof",
    "collect",
    "write_tml_report",
]

BASELINES = ("threshold", "threshold(signal=loss)")  # the candidate the report calls the baseline
CURVES = 6  # candidates drawn: the submitted one, the baseline, the best of the rest


def ranking_lines(manifest: dict, top: int = 10) -> list[str]:
    """The validation ranking's first ``top`` rows (and the chosen one wherever it is), one line each."""
    ranking = manifest.get("ranking") or [
        {"label": n, "chosen": n == _chosen(manifest)}
        for n in sorted(manifest["validation"], key=lambda n: -manifest["validation"][n][STRICT])
    ]
    shown = ranking[:top] + [r for r in ranking[top:] if r.get("chosen")]
    width = max([len(r["label"]) for r in shown] + [10])
    lines = []
    for i, r in enumerate(shown, 1):
        fig = manifest["validation"][r["label"]]
        board = fig["board_slice"]
        lo, hi = fig["tpr_ci95"]
        mark = "  <- submitted" if r.get("chosen") else ""
        lines.append(
            f"  {i:>2}. {r['label']:<{width}} TPR@5%FPR {fig[STRICT]:.3f} [{lo:.3f}, {hi:.3f}] "
            f"AUC {fig['auc']:.3f}  board slice {board['mean']:.3f} ± {board['std']:.3f}{mark}"
        )
    return lines


def corrected_lines(manifest: dict) -> list[str]:
    """The submitted figure corrected for the choice, and the board slice expected from it (empty before it existed)."""
    c = manifest.get("corrected")
    if not c:
        return []
    board = c["board_slice"]
    return [
        f"expected on the hidden answers: TPR@5%FPR {c['estimate']:.3f} [{c['ci'][0]:.3f}, {c['ci'][1]:.3f}] "
        f"(its validation figure {c['raw']:.3f}, corrected for picking the best of {c['candidates']}: BBC-CV)",
        f"expected board (30% slice): {board['mean']:.3f} ± {board['std']:.3f}, 90% of slices in "
        f"[{board['p5']:.3f}, {board['p95']:.3f}]",
    ]


def _chosen(manifest: dict) -> str:
    """The submitted candidate's label (a manifest without a ranking names its recipe's attack)."""
    return manifest.get("chosen") or manifest["recipe"]["attack"]


def _shadow_lines(manifest: dict) -> list[str]:
    sh = manifest.get("shadows") or {}
    if not sh.get("n"):
        why = sh.get("note") or "--shadows 0"
        return [f"shadows: none ({why}): reference attacks skipped"]
    budget = f", budget {sh['budget_s'] / 60:.0f} min" if sh.get("budget_s") else ""
    lines = [f"shadows: {sh['n']} in {sh['dir']} ({sh['seconds_this_run']:.0f} s this run{budget})"]
    for row in sh.get("match") or []:
        smooth = f" label smoothing {row['label_smoothing']:g}" if row.get("label_smoothing") else ""
        lines.append(f"  --match epochs {row['epochs']} lr {row['lr']:g}{smooth}: distance {row['distance']:.3f}")
    if sh.get("check"):
        lines.append(sh["check"]["verdict"])
    return lines


def format_validation(manifest: dict) -> str:
    """Shadows, the ranking (validation: out-of-fold on the public set), what was submitted, files, seconds."""
    lines = [manifest["target"]] if manifest.get("target") else []
    lines += _shadow_lines(manifest)
    lines.append(
        f"validation ranking (out-of-fold on the public set, {manifest.get('folds')} folds, 95% bootstrap CI):"
    )
    lines += ranking_lines(manifest)
    how = "ranked first" if manifest["recipe"]["attack"] == "auto" else "fixed in track.toml"
    lines.append(f"submitted: {_chosen(manifest)} ({how})")
    lines += corrected_lines(manifest)
    secs = manifest.get("seconds") or {}
    if secs:
        lines.append("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in secs.items()))
    lines.append(f"wrote {manifest['csv']} and {manifest['manifest']}")
    if manifest.get("report"):
        lines.append(f"report: {manifest['report']}")
    return "\n".join(lines)


def oof_npz(membership: np.ndarray, oof: dict[str, np.ndarray]) -> bytes:
    """The bytes of ``<run>.scores.npz``: the public set's membership and each attack's out-of-fold scores."""
    buf = io.BytesIO()
    np.savez(buf, membership=np.asarray(membership), **{f"oof/{k}": v for k, v in oof.items()})
    return buf.getvalue()


def save_oof(path: Path, membership: np.ndarray, oof: dict[str, np.ndarray]) -> Path:
    """``<run>.scores.npz`` beside the CSV (``oof_npz``), written atomically."""
    atomic_write_bytes(Path(path), oof_npz(membership, oof))
    return Path(path)


def load_oof(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(public membership, {attack: out-of-fold scores}) of a ``<run>.scores.npz``."""
    with np.load(path) as data:
        return data["membership"], {k.split("/", 1)[1]: data[k] for k in data.files if k.startswith("oof/")}


def _keys(chosen: str, names) -> dict[str, str]:
    """{candidate: method key}: the submitted one is 'recipe', the loss threshold 'baseline', others their label."""
    return {n: "recipe" if n == chosen else "baseline" if n in BASELINES else n for n in names}


def _drawn(manifest: dict, oof: dict) -> list[str]:
    """The candidates whose curves are drawn: submitted, baseline, then the ranking's next best."""
    order = [r["label"] for r in manifest.get("ranking") or []] or list(oof)
    first = [manifest.get("chosen", order[0])] + [b for b in BASELINES if b in oof]
    return list(dict.fromkeys(first + order))[:CURVES]


def _labels(manifest: dict, keys: dict[str, str]) -> dict[str, str]:
    chosen = manifest.get("chosen")
    if manifest["recipe"]["attack"] != "auto":
        chosen = Recipe.from_dict(manifest["recipe"], "manifest").label()
    out = {"recipe": f"submitted: {chosen}"}
    out |= {k: f"baseline: {n}" if k == "baseline" else n for n, k in keys.items() if k != "recipe"}
    return out


def _ranking(manifest: dict, keys: dict[str, str], fpr: float) -> dict:
    rows = [
        {
            "method": keys.get(n, n),
            "value": f[STRICT],
            "ci": f["tpr_ci95"],
            "TPR at FPR ≤ (inclusive)": f[INCLUSIVE],
            "AUC": f["auc"],
        }
        for n, f in manifest["validation"].items()
    ]
    return {
        "split": "validation",
        "rows": sorted(rows, key=lambda r: -r["value"]),
        "how": f"out-of-fold on the public set ({manifest.get('folds')} folds); strict TPR at FPR < {fpr:g}; "
        "95% CI: bootstrap over points.",
    }


def _run_facts(manifest: dict) -> dict:
    """The provenance rows of this task's run, after those every manifest records (``report.data.provenance``)."""
    return {
        "seed": manifest.get("seed"),
        "folds": manifest.get("folds"),
        "views": ", ".join(manifest.get("views", [])),
        "shadows": json.dumps(manifest.get("shadows")),
        "inputs (sha256)": json.dumps(manifest.get("inputs")),
        "csv sha256": manifest.get("csv_sha256"),
    }


def collect(track, manifest: dict, timings: dict[str, float] | None = None) -> ReportData:
    """The report's data of one run, from its manifest (as ``make_submission`` returns it) and scores file."""
    membership, oof = load_oof(Path(manifest["scores"]))
    oof = {n: oof[n] for n in _drawn(manifest, oof)}
    keys = _keys(manifest.get("chosen", manifest["recipe"]["attack"]), oof)
    printed, facts, ranking = format_validation(manifest), _run_facts(manifest), _ranking(manifest, keys, FPR)
    corrected = [line[0].upper() + line[1:] + "." for line in corrected_lines(manifest)]
    labels = _labels(manifest, keys)
    how = "ranked first on validation" if manifest["recipe"]["attack"] == "auto" else "fixed in track.toml"
    choice = [f"Submitted: {labels['recipe'][len('submitted: ') :]}, {how}.", *corrected]
    check = (manifest.get("shadows") or {}).get("check")
    if check:
        choice.append(f"Shadow check: {check['verdict']}.")
    entry = {
        "name": track.name,
        "labels": labels,
        "choice": choice,
        "splits": {},  # ``ReportData.add`` lists the curves
        "ranking": ranking,
        "board_slice": {keys.get(n, n): f["board_slice"] for n, f in manifest["validation"].items()},
    }
    data = ReportData(
        {
            "title": f"{track.name}: submission {Path(manifest['csv']).stem}",
            "track": track.name,
            "submission": manifest["csv"],
            "leaderboard_fpr": FPR,
            "printed": printed,
            "split_titles": {"validation": "public set, out-of-fold scores (membership known)"},
            "timings": dict(timings or {}),
            "provenance": provenance(manifest, facts),
            "notes": ["The private set's answers are not known: its scores have no curve."],
            "scenarios": [entry],
        }
    )
    for name in sorted(oof, key=lambda n: list(labels).index(keys[n])):
        data.add(track.name, "validation", keys[name], membership, oof[name])
    return data


def write_tml_report(track, manifest: dict, timings: dict[str, float] | None = None) -> Path:
    """Write ``<run>.report.npz``, its PNGs and ``<run>.report.html`` beside the CSV; return the page's path."""
    csv = Path(manifest["csv"])
    prefix = f"{csv.stem}."
    data = collect(track, manifest, timings)
    data.save(csv.parent / f"{prefix}{REPORT_DATA}")
    return write_report(csv.parent, data, prefix)
