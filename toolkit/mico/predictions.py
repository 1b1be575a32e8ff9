"""A phase's predictions: normalised [0, 1] scores per target model, and the attack stage's files.

What the attack stage writes and the packager reads (``runs/<track>/attack/<scenario>.npz`` and its
``.json``), in pure numpy, so the packager depends on no attack, model or output code.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toolkit.errors import ConfigError
from toolkit.io import atomic_write_bytes, atomic_write_text
from toolkit.signals import minmax

__all__ = [
    "NORMALISERS",
    "normalise",
    "PhaseScores",
    "save_phase_scores",
    "load_phase_scores",
    "load_validation_scores",
    "VALIDATION_PARTS",
]

NORMALISERS = ("minmax", "rank")
# A method's validation split in the stage file: "<method>/validation/<part>" for each part.
VALIDATION_PARTS = ("solution", "scores", "groups")


def normalise(scores: np.ndarray, method: str = "minmax") -> np.ndarray:
    """One global monotone map of a phase's pooled scores into [0, 1] (pooled ranking unchanged)."""
    s = np.asarray(scores, dtype=np.float64)
    if method == "minmax":
        return minmax(s)
    if method == "rank":
        from scipy.stats import rankdata

        return (rankdata(s) - 1) / max(len(s) - 1, 1)
    raise ConfigError(f"unknown normalisation {method!r}; valid: {', '.join(NORMALISERS)}")


@dataclass
class PhaseScores:
    """Normalised [0,1] scores of every model of one phase, in challenge order."""

    phase: str
    model_ids: list[int]
    scores: np.ndarray  # float64 [n_models, 2m]

    def by_model(self) -> dict[int, np.ndarray]:
        return dict(zip(self.model_ids, self.scores))

    @classmethod
    def pooled(cls, phase: str, model_ids: list[int], raw: np.ndarray, normaliser: str = "minmax") -> PhaseScores:
        """From raw scores of concatenated targets: one global ``normalise`` of the phase, then one row per model."""
        s = normalise(raw, normaliser)
        return cls(phase, list(model_ids), s.reshape(len(model_ids), -1))


def save_phase_scores(
    path: Path,
    scenario: str,
    results: dict[str, dict[str, PhaseScores]],
    meta: dict,
    validation: dict[str, tuple] | None = None,
) -> dict:
    """Stage file: ``runs/<track>/attack/<scenario>.npz`` (+ .json with the recipe and metrics); returns the
    .json's content as it reads back, so a run that packages next needs not read it.

    ``validation`` maps a method to its validation split's (solution, raw scores, target ids), kept
    as ``<method>/validation/<part>`` arrays for the report's curves (``load_validation_scores``).
    """
    arrays = {}
    for method, phases in results.items():
        for phase, ps in phases.items():
            arrays[f"{method}/{phase}/ids"] = np.asarray(ps.model_ids)
            arrays[f"{method}/{phase}/scores"] = ps.scores
    for method, parts in (validation or {}).items():
        for part, values in zip(VALIDATION_PARTS, parts):
            arrays[f"{method}/validation/{part}"] = np.asarray(values)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())
    text = json.dumps({"scenario": scenario, **meta}, indent=2, default=str)
    atomic_write_text(path.with_suffix(".json"), text)
    return json.loads(text)


def load_phase_scores(path: Path) -> dict[str, dict[str, PhaseScores]]:
    """{method: {phase: PhaseScores}} of a stage file (the dev/final phases; validation arrays are skipped)."""
    if not Path(path).is_file():
        raise ConfigError(f"no attack scores at {path}", "run `mia attack` (or `make attack`) first")
    data = np.load(path)
    out: dict[str, dict[str, PhaseScores]] = {}
    for key in data.files:
        method, phase, part = key.split("/")
        if part == "ids":
            out.setdefault(method, {})[phase] = PhaseScores(phase, data[key].tolist(), data[f"{method}/{phase}/scores"])
    return out


def load_validation_scores(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """{method: (solution, raw scores, target ids)} of a stage file's validation split; {} in older files."""
    if not Path(path).is_file():
        raise ConfigError(f"no attack scores at {path}", "run `mia attack` (or `make attack`) first")
    data = np.load(path)
    methods = sorted({k.split("/")[0] for k in data.files if k.split("/")[1:2] == ["validation"]})
    return {m: tuple(data[f"{m}/validation/{part}"] for part in VALIDATION_PARTS) for m in methods}
