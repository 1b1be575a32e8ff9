"""The packager: MICO ``prediction.csv`` files and the zip in the scorer's exact layout.

``<out>/<task>/<scenario>/{dev,final}/model_<id>/prediction.csv`` mirrors the organisers' model
folders (the user's data folder is never written to); the zip's root holds the task folder with
exactly the scenario folders; ``manifest.json`` beside it says how the submission was made.
Everything is validated before anything is written, and the zip is written to a temporary file
and renamed, so a failure never leaves a half-written zip.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from toolkit.errors import raise_if_problems
from toolkit.io import atomic_write_bytes, atomic_write_text
from toolkit.mico.check import MAX_ZIP_BYTES
from toolkit.mico.predictions import PhaseScores
from toolkit.signals import score_problems

__all__ = ["format_row", "validate_predictions", "write_submission"]

ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can say; the manifest holds when it was made


def format_row(values: np.ndarray) -> str:
    """One row, comma-separated, no header; 10 significant digits keep ties as ties."""
    return ",".join(f"{v:.10g}" for v in np.asarray(values, dtype=np.float64)) + "\n"


def validate_predictions(
    preds: dict[str, dict[str, PhaseScores]], expected: dict[str, dict[str, list[int]]], n_values: int
) -> None:
    """Every expected (scenario, phase, model) present with n finite values in [0, 1]; all problems at once."""
    problems = []
    for scenario, phases in expected.items():
        for phase, ids in phases.items():
            got = preds.get(scenario, {}).get(phase)
            if got is None:
                problems.append(f"{scenario}/{phase}: no predictions")
                continue
            table = got.by_model()
            for mid in ids:
                v = table.get(mid)
                where = f"{scenario}/{phase}/model_{mid}"
                if v is None:
                    problems.append(f"{where}: missing")
                else:
                    problems += [f"{where}: {p}" for p in score_problems(v, n_values, unit=True)]
            extra = sorted(set(table) - set(ids))
            if extra:
                problems.append(f"{scenario}/{phase}: predictions for unknown model(s) {extra[:5]}")
    raise_if_problems(problems, hint="re-run `mia attack` for this track")


def _entry(name: str) -> zipfile.ZipInfo:
    """A zip entry with a fixed date and mode: the same predictions give the same zip, byte for byte."""
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16  # a regular file, rw-r--r--
    return info


def _sweep_temporary(out_dir: Path) -> None:
    """Remove the atomic writers' hidden temporary files that a killed run left in this run folder.

    A run folder belongs to one ``package`` run, so nothing else is writing them.
    """
    if out_dir.is_dir():
        for tmp in out_dir.rglob(".*.tmp"):
            tmp.unlink(missing_ok=True)


def write_submission(
    out_dir: Path,
    task: str,
    preds: dict[str, dict[str, PhaseScores]],
    expected: dict[str, dict[str, list[int]]],
    n_values: int,
    manifest: dict,
) -> Path:
    """Validate, then write prediction files, the zip and the manifest; return the zip's path.

    Each file is written atomically: a full disk or a kill leaves every file whole (the earlier
    run's or this one's) and a re-run gives the uninterrupted run's bytes.
    """
    validate_predictions(preds, expected, n_values)
    out_dir = Path(out_dir)
    _sweep_temporary(out_dir)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for scenario, phases in expected.items():
            for phase, ids in phases.items():
                table = preds[scenario][phase].by_model()
                for mid in ids:
                    rel = f"{task}/{scenario}/{phase}/model_{mid}/prediction.csv"
                    row = format_row(table[mid])
                    zf.writestr(_entry(rel), row)
                    atomic_write_text(out_dir / rel, row)
    data = buf.getvalue()
    raise_if_problems([f"zip is {len(data)} bytes, over the scorer's 2 MB limit"] if len(data) > MAX_ZIP_BYTES else [])
    zip_path = out_dir / f"{task}.zip"
    atomic_write_bytes(zip_path, data)
    atomic_write_text(out_dir / "manifest.json", json.dumps(manifest, indent=2, default=str))
    return zip_path
