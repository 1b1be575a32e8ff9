"""The ResNet18 task's submission file: ``<id>,score`` CSV, one row per private point, graded scores in [0, 1].

The id column's name is the edition's (``[upload] id_column``: ``ids`` in 2025, ``id`` in 2026).
Beside the CSV goes its manifest (``run_manifest``: what ran, on which inputs, validated how), so the
submission describes itself.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np

from toolkit.errors import SubmissionError, one_line, raise_if_problems
from toolkit.io import atomic_write_text, read_bounded, sha256_file
from toolkit.signals import minmax as normalise  # the CSV's scores: min-max to [0, 1]
from toolkit.signals import score_problems

__all__ = [
    "normalise",
    "submission_problems",
    "write_submission_csv",
    "run_manifest",
    "read_submission_csv",
    "MAX_CSV_BYTES",
]

MAX_CSV_BYTES = 16 * 1024 * 1024  # 20,000 rows of "id,score" are ~0.5 MB
_ID = re.compile(r"-?[0-9]{1,19}")  # int64 has 19 digits: longer is refused before int() reads it


def submission_problems(ids, scores, expected_ids=None) -> list[str]:
    """Every rule the CSV breaks: ids unique and (if given) exactly ``expected_ids``; scores finite, in [0, 1],
    not hard labels."""
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
    problems += [f"scores: {p}" for p in score_problems(s, unit=True)]
    if len(s) and np.isin(s, (0.0, 1.0)).all():
        problems.append("scores are hard 0/1 labels; the server wants graded scores")
    return problems


def write_submission_csv(path: Path, ids, scores, expected_ids=None, *, id_column: str = "ids") -> Path:
    """Validate (all problems at once), then write ``<id_column>,score`` atomically."""
    problems = submission_problems(ids, scores, expected_ids)
    raise_if_problems(problems, hint="nothing was written")
    buf = io.StringIO()
    buf.write(f"{id_column},score\n")
    buf.writelines(f"{int(i)},{float(v):.10g}\n" for i, v in zip(ids, scores))
    atomic_write_text(Path(path), buf.getvalue())
    return Path(path)


def run_manifest(task, s, shadows: dict, figures: dict) -> dict:
    """The manifest's first fields: provenance, the run's settings ``s`` (``TMLSettings``), its shadows, the task's
    folder and inputs (by content hash) and the candidates' validation ``figures``."""
    from toolkit.provenance import manifest_base

    return {
        **manifest_base(),
        "track": s.track.name,
        "recipe": {"attack": s.attack, **s.params},
        "seed": s.seed,
        "views": list(s.views),
        "folds": s.folds,
        "shadows": shadows,
        "task_dir": str(Path(task.folder).resolve()),  # where `mia upload` finds the private ids to check
        "inputs": {p.name: sha256_file(p) for p in task.input_paths},
        "validation": figures,
    }


def _id_and_score(row: list[str]) -> tuple[int, float] | None:
    """One body row's (id, score), or None where the id is not a decimal int64 or the score not a number."""
    ident, score = row[0].strip(), row[1].strip()
    if not _ID.fullmatch(ident) or not -(2**63) <= int(ident) < 2**63:
        return None
    try:
        return int(ident), float(score)
    except ValueError:
        return None


def read_submission_csv(path: Path, expected_ids=None, *, id_column: str = "ids") -> tuple[np.ndarray, np.ndarray]:
    """Read back and check an ``<id_column>,score`` CSV; raises SubmissionError listing every problem.

    The file is read through a bounded reader (at most ``MAX_CSV_BYTES``) and parsed strictly:
    ids are decimal integers that fit int64, so what is checked is what the server will read.
    """
    path = Path(path)
    if not path.is_file():
        raise SubmissionError([f"{path}: no such file"])
    too_long = f"{path}: over {MAX_CSV_BYTES:,} bytes, far more than one row per private id"
    raw = read_bounded(path, MAX_CSV_BYTES, lambda: SubmissionError([too_long]))
    try:
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8"))))
    except UnicodeDecodeError as exc:
        raise SubmissionError([f"{path}: not UTF-8 text (byte {exc.start})"]) from None
    except csv.Error as exc:
        raise SubmissionError([f"{path}: not a readable CSV ({one_line(exc, 80)})"]) from None
    if not rows or [c.strip() for c in rows[0]] != [id_column, "score"]:
        got = one_line(repr(rows[0]), 80) if rows else "an empty file"
        raise SubmissionError([f"{path}: header must be '{id_column},score', got {got}"])
    body = [r for r in rows[1:] if r]
    bad = [i + 2 for i, r in enumerate(body) if len(r) != 2]
    if bad:
        raise SubmissionError([f"{path}: line(s) {bad[:5]} do not have exactly 2 fields"])
    parsed = [_id_and_score(r) for r in body]
    bad = [i + 2 for i, v in enumerate(parsed) if v is None]
    if bad:
        raise SubmissionError([f"{path}: line(s) {bad[:5]} need an integer id and a numeric score"])
    ids = np.array([v[0] for v in parsed], dtype=np.int64)
    scores = np.array([v[1] for v in parsed], dtype=np.float64)
    raise_if_problems(submission_problems(ids, scores, expected_ids), hint=f"in {path}")
    return ids, scores
