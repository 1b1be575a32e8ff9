"""What a report is drawn from: one ``.npz`` in the run folder, per-point scores plus a JSON header.

A collector (``toolkit.mico.report``, ``toolkit.tml.report``) writes it once, at submit time, from
the stage files, the known answers and the manifest; ``mia report`` draws the page again from it
alone, so a run folder moved elsewhere still rebuilds its report. Curves are keyed
``<scenario>/<split>/<method>/{labels,scores,groups}``; the header (``meta``) says what to draw:

- ``title``, ``track``, ``submission``, ``leaderboard_fpr``, ``printed`` (the metrics as printed);
- ``scenarios``: per scenario ``name``, ``choice`` (lines on the recipe), ``labels`` (method → legend),
  ``splits`` (split → methods with curves), ``ranking`` (and ``auto_ranking``), ``epsilon``,
  ``dp_ceiling`` (a DP scenario's ceiling: ``fpr``, ``tpr``, ``label``, ``values``), ``board_slice``, ``notes``;
- ``timings`` (stage → seconds), ``provenance`` (key → value), ``notes``.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from toolkit.errors import DataError
from toolkit.io import atomic_write_bytes
from toolkit.metrics import bootstrap_ci
from toolkit.report.figures import strict_tpr

__all__ = ["ReportData", "rank_methods", "load_report_data", "provenance", "PARTS"]

PARTS = ("labels", "scores", "groups")
_META = "__meta__"


@dataclass
class ReportData:
    """The report's header (``meta``, JSON) and its per-point arrays (``curves``)."""

    meta: dict
    curves: dict[str, np.ndarray] = field(default_factory=dict)

    def add(self, scenario: str, split: str, method: str, labels, scores, groups=None) -> None:
        """One method's (labels, scores[, target ids]) on one split, listed under the scenario's ``splits``."""
        key = f"{scenario}/{split}/{method}"
        self.curves[f"{key}/labels"] = np.asarray(labels).astype(np.int8).ravel()
        self.curves[f"{key}/scores"] = np.asarray(scores, dtype=np.float64).ravel()
        if groups is not None:
            self.curves[f"{key}/groups"] = np.asarray(groups).astype(np.int64).ravel()
        splits = self.scenario(scenario).setdefault("splits", {})
        if method not in splits.setdefault(split, []):
            splits[split].append(method)

    def scenario(self, name: str) -> dict:
        """The header entry of scenario ``name`` (created on first use, in order)."""
        for entry in self.meta.setdefault("scenarios", []):
            if entry["name"] == name:
                return entry
        entry = {"name": name}
        self.meta["scenarios"].append(entry)
        return entry

    def curve(self, scenario: str, split: str, method: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(labels, scores, target ids or None) of one method on one split."""
        key = f"{scenario}/{split}/{method}"
        return self.curves[f"{key}/labels"], self.curves[f"{key}/scores"], self.curves.get(f"{key}/groups")

    def save(self, path: Path) -> Path:
        """Write the ``.npz`` atomically (a killed run leaves the old file or the new one)."""
        buf = io.BytesIO()
        header = np.frombuffer(json.dumps(self.meta, default=_plain).encode(), dtype=np.uint8)
        np.savez_compressed(buf, **{_META: header}, **self.curves)
        atomic_write_bytes(Path(path), buf.getvalue())
        return Path(path)


def provenance(manifest: dict, extra: dict) -> dict:
    """The report's provenance table: what every manifest records (``provenance.manifest_base``), then ``extra``."""
    return {
        "created": manifest.get("created"),
        "git commit": manifest.get("git_commit"),
        "python": manifest.get("python"),
        "packages": ", ".join(f"{k} {v}" for k, v in manifest.get("packages", {}).items()),
        **extra,
    }


def load_report_data(path: Path) -> ReportData:
    """Read a report's ``.npz`` back; a missing or foreign file is a one-line ``DataError``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no report data at {path}", "re-run `mia submit` to write it")
    with np.load(path) as data:
        if _META not in data.files:
            raise DataError(f"{path} is not a report's data file (no header)")
        meta = json.loads(data[_META].tobytes().decode())
        curves = {k: data[k] for k in data.files if k != _META}
    return ReportData(meta, curves)


def rank_methods(
    data: ReportData, scenario: str, split: str, fpr: float, *, n_boot: int = 200, seed: int = 0
) -> list[dict]:
    """Every method of a split by strict TPR@``fpr``, best first, with a bootstrap CI over target models."""
    rows = []
    for method in data.scenario(scenario).get("splits", {}).get(split, []):
        y, s, g = data.curve(scenario, split, method)
        est, lo, hi = bootstrap_ci(y, s, lambda yy, ss: strict_tpr(yy, ss, fpr), groups=g, n_boot=n_boot, seed=seed)
        rows.append({"method": method, "value": est, "ci": [lo, hi]})
    return sorted(rows, key=lambda r: -r["value"])


def _plain(obj):
    """JSON for numpy scalars and anything else the manifests carry (paths, infinities as text)."""
    if isinstance(obj, np.generic):
        return obj.item()
    return str(obj)
