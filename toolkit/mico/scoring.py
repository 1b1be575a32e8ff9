"""A phase's scores and figures: recipe → normalised per-model scores, the hidden answers of a local
challenge, and the scorer's figures on them.

The leaderboard pools all models of a phase under one threshold, so raw scores are made
comparable globally (one monotone map for the whole phase, never per model) before they are
written as [0,1] predictions. A recipe's raw scores on a phase and on the validation split (train
models as targets, the other train models as references) are computed beside the arrays they read
(``mico.scenario``: ``score_arrays``, ``validation_scores``, re-exported here).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toolkit.metrics import scorer_metrics
from toolkit.mico.build import answers_dir
from toolkit.mico.challenge import TARGET_PHASES, read_solution
from toolkit.mico.predictions import PhaseScores
from toolkit.mico.scenario import ScenarioData, raw_phase_scores, score_arrays, validation_scores
from toolkit.tracks import Recipe

__all__ = [
    "score_arrays",
    "score_phase",
    "validation_scores",
    "known_solution",
    "phase_metrics",
    "known_metrics",
]


def score_phase(
    sd: ScenarioData, phase: str, paths: dict, recipe: Recipe, *, normaliser: str = "minmax", seed: int = 0
) -> PhaseScores:
    """Normalised [0, 1] scores of every model of a dev/final phase with ``recipe``."""
    return PhaseScores.pooled(phase, *raw_phase_scores(sd, phase, paths, recipe, seed=seed), normaliser)


def known_solution(sd: ScenarioData, data_dir: Path, phase: str) -> np.ndarray | None:
    """The hidden answers of a dev/final phase, where the challenge was built locally; else None."""
    root = answers_dir(data_dir, sd.track, sd.scenario) / phase
    files = [root / f"model_{md.model_id}" / "solution.csv" for md in sd.models[phase]]
    if not all(f.is_file() for f in files):
        return None
    return np.stack([read_solution(f, 2 * sd.track.m, binary=True).astype(np.int64) for f in files])


def phase_metrics(solution: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """The MICO scorer's figures of a phase: every model's points pooled."""
    return scorer_metrics(np.asarray(solution).ravel(), np.asarray(scores).ravel())


def known_metrics(opened: dict, data_dir: Path, found: dict) -> dict:
    """{scenario: {phase: scorer figures}} of a zip's predictions ``found`` on every phase whose answers are
    known (local challenges); ``opened``: {Scenario: ScenarioData}."""
    report = {}
    for sc, sd in opened.items():
        for phase in TARGET_PHASES:
            sol = known_solution(sd, data_dir, phase)
            if sol is not None:
                got = found[sc.folder or sc.name][phase]
                pred = np.stack([got[md.model_id] for md in sd.models[phase]])
                report.setdefault(sc.name, {})[phase] = phase_metrics(sol, pred)
    return report
