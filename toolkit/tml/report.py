"""The report of a ResNet18-task submission: what ``submit`` writes beside ``<run>.csv``.

The task's answers are only known on the public set, so its curves are the out-of-fold scores of
the candidates validated there (``<run>.scores.npz``, written by ``make_submission``): the one
submitted, the threshold baseline and the next best of the ranking. The whole ranking with its
CIs, the shadows' check against the target and the simulated leaderboard slices come from the
manifest. Runs share
one folder, so the files are ``<run>.report.html``, ``<run>.report.npz`` and ``<run>.report_*.png``.
"""

from __future__ import annotations

import json
from pathlib import Path

from toolkit.context import leaderboard_fpr
from toolkit.report.build import REPORT_DATA, write_report
from toolkit.report.data import ReportData
from toolkit.tml.board import INCLUSIVE, STRICT
from toolkit.tracks import Recipe

__all__ = ["BASELINES", "collect", "write_tml_report"]

BASELINES = ("threshold", "threshold(signal=loss)")  # the candidate the report calls the baseline
CURVES = 6  # candidates drawn: the submitted one, the baseline, the best of the rest


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


def _provenance(manifest: dict) -> dict:
    return {
        "created": manifest.get("created"),
        "git commit": manifest.get("git_commit"),
        "python": manifest.get("python"),
        "packages": ", ".join(f"{k} {v}" for k, v in manifest.get("packages", {}).items()),
        "seed": manifest.get("seed"),
        "folds": manifest.get("folds"),
        "views": ", ".join(manifest.get("views", [])),
        "shadows": json.dumps(manifest.get("shadows")),
        "inputs (sha256)": json.dumps(manifest.get("inputs")),
        "csv sha256": manifest.get("csv_sha256"),
    }


def collect(track, manifest: dict, timings: dict[str, float] | None = None) -> ReportData:
    """The report's data of one run, from its manifest (as ``make_submission`` returns it) and scores file."""
    from toolkit.tml.pipeline import load_oof
    from toolkit.tml.summary import format_validation

    fpr = leaderboard_fpr(track)
    membership, oof = load_oof(Path(manifest["scores"]))
    oof = {n: oof[n] for n in _drawn(manifest, oof)}
    keys = _keys(manifest.get("chosen", manifest["recipe"]["attack"]), oof)
    data = ReportData(
        {
            "title": f"{track.name}: submission {Path(manifest['csv']).stem}",
            "track": track.name,
            "submission": manifest["csv"],
            "leaderboard_fpr": fpr,
            "printed": format_validation(manifest),
            "split_titles": {"validation": "public set, out-of-fold scores (membership known)"},
            "timings": dict(timings or {}),
            "provenance": _provenance(manifest),
            "notes": ["The private set's answers are not known: its scores have no curve."],
        }
    )
    entry = data.scenario(track.name)
    entry["labels"] = _labels(manifest, keys)
    how = "ranked first on validation" if manifest["recipe"]["attack"] == "auto" else "fixed in track.toml"
    entry["choice"] = [f"Submitted: {entry['labels']['recipe'][len('submitted: ') :]}, {how}."]
    from toolkit.tml.summary import corrected_lines

    entry["choice"] += [line[0].upper() + line[1:] + "." for line in corrected_lines(manifest)]
    check = (manifest.get("shadows") or {}).get("check")
    if check:
        entry["choice"].append(f"Shadow check: {check['verdict']}.")
    for name in sorted(oof, key=lambda n: list(entry["labels"]).index(keys[n])):
        data.add(track.name, "validation", keys[name], membership, oof[name])
    entry["ranking"] = _ranking(manifest, keys, fpr)
    entry["board_slice"] = {keys.get(n, n): f["board_slice"] for n, f in manifest["validation"].items()}
    return data


def write_tml_report(track, manifest: dict, timings: dict[str, float] | None = None) -> Path:
    """Write ``<run>.report.npz``, its PNGs and ``<run>.report.html`` beside the CSV; return the page's path."""
    csv = Path(manifest["csv"])
    prefix = f"{csv.stem}."
    data = collect(track, manifest, timings)
    data.save(csv.parent / f"{prefix}{REPORT_DATA}")
    return write_report(csv.parent, data, prefix)
