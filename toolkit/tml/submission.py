"""The ResNet18 task's submission file: ``ids,score`` CSV, one row per private point, graded scores in [0, 1]."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from toolkit.errors import SubmissionError, raise_if_problems
from toolkit.io import atomic_write_text

__all__ = ["normalise", "submission_problems", "write_submission_csv", "read_submission_csv"]


def normalise(scores) -> np.ndarray:
    """Min-max to [0, 1] (order and ties kept); a constant vector becomes 0.5."""
    s = np.asarray(scores, dtype=np.float64)
    lo, hi = s.min(), s.max()
    return np.full_like(s, 0.5) if hi <= lo else np.clip((s - lo) / (hi - lo), 0.0, 1.0)


def submission_problems(ids, scores, expected_ids=None) -> list[str]:
    """Every rule the CSV breaks: ids unique and (if given) exactly ``expected_ids``; scores finite, in [0, 1], not hard labels."""
    ids = np.asarray(ids)
    s = np.asarray(scores, dtype=np.float64)
    problems = []
    if ids.shape != s.shape:
        return [f"{len(ids)} ids but {len(s)} scores"]
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        problems.append(f"{int((counts > 1).sum())} id(s) repeated, e.g. {uniq[counts > 1][:3].tolist()}")
    if expected_ids is not None:
        missing = np.setdiff1d(expected_ids, ids)
        extra = np.setdiff1d(ids, expected_ids)
        if len(missing):
            problems.append(f"{len(missing)} private id(s) missing, e.g. {missing[:3].tolist()}")
        if len(extra):
            problems.append(f"{len(extra)} unknown id(s), e.g. {extra[:3].tolist()}")
    if not np.isfinite(s).all():
        problems.append(f"{int((~np.isfinite(s)).sum())} score(s) NaN or infinite")
    elif len(s) and (s.min() < 0 or s.max() > 1):
        problems.append(f"scores must lie in [0, 1], got [{s.min():.4g}, {s.max():.4g}]")
    if len(s) and np.isin(s, (0.0, 1.0)).all():
        problems.append("scores are hard 0/1 labels; the server wants graded scores")
    return problems


def write_submission_csv(path: Path, ids, scores, expected_ids=None) -> Path:
    """Validate (all problems at once), then write ``ids,score`` atomically."""
    raise_if_problems(submission_problems(ids, scores, expected_ids), hint="nothing was written")
    buf = io.StringIO()
    buf.write("ids,score\n")
    buf.writelines(f"{int(i)},{float(v):.10g}\n" for i, v in zip(ids, scores))
    atomic_write_text(Path(path), buf.getvalue())
    return Path(path)


def read_submission_csv(path: Path, expected_ids=None) -> tuple[np.ndarray, np.ndarray]:
    """Read back and check an ``ids,score`` CSV; raises SubmissionError listing every problem."""
    text = Path(path).read_text()
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or [c.strip() for c in rows[0]] != ["ids", "score"]:
        raise SubmissionError([f"{path}: header must be 'ids,score', got {rows[0] if rows else 'an empty file'}"])
    body = [r for r in rows[1:] if r]
    bad = [i + 2 for i, r in enumerate(body) if len(r) != 2]
    if bad:
        raise SubmissionError([f"{path}: line(s) {bad[:5]} do not have exactly 2 fields"])
    try:
        ids = np.array([int(r[0]) for r in body], dtype=np.int64)
        scores = np.array([float(r[1]) for r in body], dtype=np.float64)
    except ValueError as exc:
        raise SubmissionError([f"{path}: {exc}"]) from None
    raise_if_problems(submission_problems(ids, scores, expected_ids))
    return ids, scores
