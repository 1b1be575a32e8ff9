"""The attack stage: recipe → per-model scores for every dev/final model, comparable across models.

The leaderboard pools all models of a phase under one threshold, so raw scores are made
comparable globally (one monotone map for the whole phase, never per model) before they are
written as [0,1] predictions. Also scores the validation split (train models as targets, the
other train models as references) where the answers are known for every track.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .attacks import run_attack
from .builder import answers_dir
from .challenge import read_solution
from .errors import ConfigError
from .io import atomic_write_bytes, atomic_write_text
from .metrics import scorer_metrics
from .scenario import PhaseArrays, ScenarioData
from .tracks import Recipe

__all__ = ["NORMALISERS", "normalise", "score_arrays", "PhaseScores", "score_phase", "validation_scores",
           "known_solution", "save_phase_scores", "load_phase_scores"]

NORMALISERS = ("minmax", "rank")


def normalise(scores: np.ndarray, method: str = "minmax") -> np.ndarray:
    """One global monotone map of a phase's pooled scores into [0, 1] (pooled ranking unchanged)."""
    s = np.asarray(scores, dtype=np.float64)
    if method == "minmax":
        lo, hi = s.min(), s.max()
        return np.full_like(s, 0.5) if hi == lo else (s - lo) / (hi - lo)
    if method == "rank":
        from scipy.stats import rankdata

        return (rankdata(s) - 1) / max(len(s) - 1, 1)
    raise ConfigError(f"unknown normalisation {method!r}; valid: {', '.join(NORMALISERS)}")


def score_arrays(arrays: PhaseArrays, recipe: Recipe, seed: int = 0) -> np.ndarray:
    """Run a recipe's attack on concatenated targets: raw scores [P]."""
    return run_attack(recipe.attack, arrays.target, arrays.labels, arrays.ref, arrays.keep,
                      groups=arrays.groups, seed=seed, **dict(recipe.params))


@dataclass
class PhaseScores:
    """Normalised [0,1] scores of every model of one phase, in challenge order."""

    phase: str
    model_ids: list[int]
    scores: np.ndarray  # float64 [n_models, 2m]

    def by_model(self) -> dict[int, np.ndarray]:
        return dict(zip(self.model_ids, self.scores))


def score_phase(sd: ScenarioData, phase: str, paths: dict, recipe: Recipe, *, normaliser: str = "minmax",
                seed: int = 0) -> PhaseScores:
    arrays = sd.phase_arrays(phase, paths)
    s = normalise(score_arrays(arrays, recipe, seed), normaliser)
    return PhaseScores(phase, arrays.model_ids, s.reshape(len(arrays.model_ids), -1))


def validation_scores(sd: ScenarioData, paths: dict, recipe: Recipe, *, n_folds: int = 4,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(solution, scores, groups) pooled over all folds of the validation split."""
    ys, ss, gs = [], [], []
    for k, fold in enumerate(sd.validation_folds(paths, n_folds, seed)):
        ys.append(fold.solution)
        ss.append(score_arrays(fold, recipe, seed))
        gs.append(np.asarray(fold.model_ids)[fold.groups])
    return np.concatenate(ys), np.concatenate(ss), np.concatenate(gs)


def known_solution(sd: ScenarioData, data_dir: Path, phase: str) -> np.ndarray | None:
    """The hidden answers of a dev/final phase, where the challenge was built locally; else None."""
    root = answers_dir(data_dir, sd.track, sd.scenario) / phase
    files = [root / f"model_{md.model_id}" / "solution.csv" for md in sd.models[phase]]
    if not all(f.is_file() for f in files):
        return None
    return np.stack([read_solution(f, 2 * sd.track.m).astype(np.int64) for f in files])


def phase_metrics(solution: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    return scorer_metrics(np.asarray(solution).ravel(), np.asarray(scores).ravel())


def save_phase_scores(path: Path, scenario: str, results: dict[str, dict[str, PhaseScores]], meta: dict) -> None:
    """Stage file: ``runs/<track>/attack/<scenario>.npz`` (+ .json with the recipe and metrics)."""
    import io

    arrays = {}
    for method, phases in results.items():
        for phase, ps in phases.items():
            arrays[f"{method}/{phase}/ids"] = np.asarray(ps.model_ids)
            arrays[f"{method}/{phase}/scores"] = ps.scores
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())
    atomic_write_text(path.with_suffix(".json"), json.dumps({"scenario": scenario, **meta}, indent=2, default=str))


def load_phase_scores(path: Path) -> dict[str, dict[str, PhaseScores]]:
    if not Path(path).is_file():
        raise ConfigError(f"no attack scores at {path}", "run `mia attack` (or `make attack`) first")
    data = np.load(path)
    out: dict[str, dict[str, PhaseScores]] = {}
    for key in data.files:
        method, phase, kind = key.split("/")
        if kind == "ids":
            out.setdefault(method, {})[phase] = PhaseScores(phase, data[key].tolist(), data[f"{method}/{phase}/scores"])
    return out
