"""The checker: every format rule of the MICO scorer, all problems listed at once; then its metrics.

Rules: the zip is at most 2 MB; entries have no absolute paths or '..' (read without extracting);
its root holds only the task folder; under it exactly the track's scenario folders; each has
``dev`` and ``final`` and nothing else; every model of those phases has a ``prediction.csv`` of
one row, no header, 2m finite values in [0, 1]; nothing stray (``.DS_Store``, ``__MACOSX``…).
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np

from toolkit.errors import FormatError, raise_if_problems

__all__ = ["read_zip_predictions", "check_zip"]

_ENTRY = re.compile(r"^(?P<scenario>[^/]+)/(?P<phase>dev|final)/model_(?P<id>\d+)/prediction\.csv$")


def _parse_row(text: str, n: int) -> tuple[np.ndarray | None, str | None]:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    if len(lines) != 1:
        return None, f"{len(lines)} lines, expected exactly one row"
    try:
        values = np.array([float(v) for v in lines[0].split(",")])
    except ValueError:
        return None, "not all values are numbers (a header?)"
    if len(values) != n:
        return None, f"{len(values)} values, expected {n}"
    if not np.isfinite(values).all():
        return None, "NaN or infinite values"
    if values.min() < 0 or values.max() > 1:
        return None, "values outside [0, 1]"
    return values, None


def read_zip_predictions(zip_path: Path, task: str, scenarios: tuple[str, ...],
                         expected: dict[str, dict[str, list[int]]] | None, n_values: int):
    """Check every rule; return {scenario: {phase: {model_id: values}}} or raise with all problems."""
    zip_path = Path(zip_path)
    if not zip_path.is_file():
        raise FormatError(f"no such zip: {zip_path}")
    problems: list[str] = []
    size = zip_path.stat().st_size
    if size > 2 * 1024 * 1024:
        problems.append(f"zip is {size} bytes, over the 2 MB limit")
    try:
        zf = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile:
        raise FormatError(f"{zip_path} is not a valid zip file") from None
    found: dict[str, dict[str, dict[int, np.ndarray]]] = {}
    with zf:
        for info in zf.infolist():
            name = info.filename
            parts = PurePosixPath(name).parts
            if name.startswith("/") or ".." in parts or "\\" in name:
                problems.append(f"unsafe path in zip: {name!r}")
                continue
            if info.is_dir():
                continue
            if not parts or parts[0] != task:
                problems.append(f"stray entry outside the task folder {task}/: {name}")
                continue
            match = _ENTRY.match("/".join(parts[1:]))
            if not match or match["scenario"] not in scenarios:
                problems.append(f"stray entry: {name}")
                continue
            values, err = _parse_row(zf.read(info).decode("utf-8", "replace"), n_values)
            if err:
                problems.append(f"{name}: {err}")
                continue
            found.setdefault(match["scenario"], {}).setdefault(match["phase"], {})[int(match["id"])] = values
    for scenario in scenarios:
        for phase in ("dev", "final"):
            got = found.get(scenario, {}).get(phase, {})
            if expected is not None:
                missing = sorted(set(expected[scenario][phase]) - set(got))
                if missing:
                    problems.append(f"{scenario}/{phase}: missing prediction.csv for model(s) {missing[:8]}")
            elif not got:
                problems.append(f"{scenario}/{phase}: no predictions (both phases are required)")
    raise_if_problems(problems, hint="rebuild it with `mia package`")
    return found


def check_zip(zip_path: Path, task: str, scenarios: tuple[str, ...], expected, n_values: int):
    """Alias kept for readability at call sites."""
    return read_zip_predictions(zip_path, task, scenarios, expected, n_values)
