"""The MICO DP-distinguisher track: calibrate every target against its own known training set.

In ``ddp`` the dev/final models reveal ``seed_training``, so for a target T every population
point outside its 200 challenge points is known: IN (its n − m non-challenge training points)
or OUT (its evaluation points). No MICO winner used this. Here a shared *calibration pool* of
population points is run through every model once (train references and targets alike); then

1. the recipe's attack scores each target on its challenge points and on the pool (references:
   the train models, whose membership of every point is known), giving raw scores h;
2. T's pool scores on its known IN and OUT points fit a per-target map (``own_calibration``):
   ``lr`` the equal-variance Gaussian log-likelihood ratio
   (μ_in − μ_out)/σ² · (h − (μ_in + μ_out)/2) (σ² pooled within class; LDA), ``z_out``
   (h − μ_out)/σ_out, or ``z_in`` (h − μ_in)/σ_in;
3. the calibrated challenge scores of all targets are pooled and normalised as usual.

Because a global threshold is applied across the 50 targets, a per-target map puts every target
on the same scale and lets targets that leak more (larger μ_in − μ_out) give more extreme scores.
"""

from __future__ import annotations

import numpy as np

from toolkit.attacks import run_attack
from toolkit.errors import ConfigError
from toolkit.mico.predictions import PhaseScores
from toolkit.mico.scenario import ScenarioData, score_arrays, validation_folds
from toolkit.mico.scenario import pool as pool_folds
from toolkit.outputs import OutputTask, get_outputs, load_outputs
from toolkit.tracks import Recipe

__all__ = [
    "CALIBRATIONS",
    "calibration_pool",
    "pool_tasks",
    "pool_outputs",
    "known_membership",
    "own_calibration",
    "ddp_raw_scores",
    "ddp_scores",
    "ddp_validation_scores",
]

CALIBRATIONS = ("lr", "z_out", "z_in")
MIN_CLASS = 2  # fewer known points of a class than this ⇒ fall back to the other class's z-score


def calibration_pool(sd: ScenarioData, size: int = 2000, seed: int = 0) -> np.ndarray:
    """Sorted population indices shared by every model of the scenario (deterministic in ``seed``)."""
    N = sd.population_size
    rng = np.random.default_rng([seed, N])
    return np.sort(rng.choice(N, size=min(size, N), replace=False)).astype(np.int64)


def pool_tasks(sd: ScenarioData, pool: np.ndarray, views=("orig",)) -> list:
    """(ModelDir, OutputTask) for every model of every phase on the pool (cached like any output)."""
    return [(md, OutputTask(**{**task.__dict__, "points": pool})) for md, task in sd.tasks(views)]


def pool_outputs(sd: ScenarioData, pool: np.ndarray, views=("orig",), **kwargs) -> dict:
    """{(phase, model_id): cache path} of every model's logits on the pool."""
    pairs = pool_tasks(sd, pool, views)
    paths = get_outputs([t for _, t in pairs], **kwargs)
    return {(md.phase, md.model_id): p for (md, _), p in zip(pairs, paths)}


def known_membership(splits, points: np.ndarray) -> np.ndarray:
    """int8 [len(points)]: 1 known IN (training), 0 known OUT (evaluation), −1 unknown (challenge)."""
    if splits.training is None or splits.evaluation is None:
        raise ConfigError("own calibration needs seed_training in every target folder (the ddp track has it)")
    out = np.full(len(points), -1, dtype=np.int8)
    out[np.isin(points, splits.training)] = 1
    out[np.isin(points, splits.evaluation)] = 0
    return out  # challenge points (members included) are neither: they stay unknown


def _stats(h: np.ndarray) -> tuple[float, float, int]:
    return (float(h.mean()), float(h.std()), len(h)) if len(h) else (0.0, 0.0, 0)


def own_calibration(h: np.ndarray, h_pool: np.ndarray, member: np.ndarray, mode: str = "lr") -> np.ndarray:
    """Map one target's raw scores ``h`` [n] using its pool scores ``h_pool`` [K] and ``member`` [K] (1/0/−1).

    Returns float64 [n], higher = member. Degenerate cases stay finite: σ = 0 ⇒ 1; a class with
    fewer than ``MIN_CLASS`` known points ⇒ z-score against the other class.
    """
    if mode not in CALIBRATIONS:
        raise ConfigError(f"unknown own-calibration {mode!r}; valid: {', '.join(CALIBRATIONS)}")
    h = np.asarray(h, dtype=np.float64)
    mu_in, sd_in, n_in = _stats(h_pool[member == 1])
    mu_out, sd_out, n_out = _stats(h_pool[member == 0])
    if n_in < MIN_CLASS and n_out < MIN_CLASS:
        return h.copy()
    if mode == "z_in" or n_out < MIN_CLASS:
        return (h - mu_in) / (sd_in or 1.0)
    if mode == "z_out" or n_in < MIN_CLASS:
        return (h - mu_out) / (sd_out or 1.0)
    var = (n_in * sd_in**2 + n_out * sd_out**2) / (n_in + n_out)
    return (mu_in - mu_out) / (var or 1.0) * (h - (mu_in + mu_out) / 2)


def _calibrate_targets(
    raw: np.ndarray,
    groups: np.ndarray,
    target_pool: list[np.ndarray],
    members: list[np.ndarray],
    ref_pool,
    keep_pool,
    labels_pool,
    recipe: Recipe,
    mode: str,
    seed: int,
) -> np.ndarray:
    """Raw challenge scores ``raw`` of concatenated targets (``groups``), each mapped by its own pool calibration."""
    out = np.empty_like(raw)
    for g, (tp, member) in enumerate(zip(target_pool, members)):
        use = member >= 0
        h_pool = run_attack(
            recipe.attack,
            tp[use],
            labels_pool[use],
            ref_pool[:, use],
            keep_pool[:, use],
            seed=seed,
            **dict(recipe.params),
        )
        rows = groups == g
        out[rows] = own_calibration(raw[rows], h_pool, member[use], mode)
    return out


def _pool_arrays(sd: ScenarioData, pool: np.ndarray, pool_paths: dict, ref_ids: list[int]):
    ref = load_outputs([pool_paths[("train", i)] for i in ref_ids])
    N = sd.population_size
    keep = np.stack([sd.splits[("train", i)].membership(N)[pool] for i in ref_ids])
    return ref, keep, sd.labels()[pool]


def _pool_and_outputs(sd: ScenarioData, ctx, size: int) -> tuple[np.ndarray, dict]:
    """The calibration pool and every model's logits on it (``pool_outputs``), with this run's settings."""
    pool = calibration_pool(sd, size, ctx.seed)
    return pool, pool_outputs(
        sd, pool, ctx.views, jobs=ctx.jobs, cache_dir=ctx.cache_dir, progress=ctx.progress, scheduler=ctx.scheduler
    )


def _calibrated(sd, arrays, phase: str, raw, pool, pool_paths: dict, recipe: Recipe, mode: str, seed: int):
    """``raw`` scores of ``arrays``' targets (models of ``phase``), each mapped by its own pool calibration against
    ``arrays``' references (train models) on the pool."""
    ref_pool, keep_pool, labels_pool = _pool_arrays(sd, pool, pool_paths, arrays.ref_ids)
    target_pool = list(load_outputs([pool_paths[(phase, i)] for i in arrays.model_ids]))
    members = [known_membership(sd.splits[(phase, i)], pool) for i in arrays.model_ids]
    return _calibrate_targets(
        raw, arrays.groups, target_pool, members, ref_pool, keep_pool, labels_pool, recipe, mode, seed
    )


def ddp_raw_scores(
    sd: ScenarioData, phase: str, paths: dict, recipe: Recipe, ctx, *, pool_size: int = 2000, mode: str = "lr"
) -> tuple[list[int], np.ndarray]:
    """(model ids, raw scores [P]) of a dev/final phase, every target calibrated against its own known points."""
    pool, pool_paths = _pool_and_outputs(sd, ctx, pool_size)
    arrays = sd.phase_arrays(phase, paths, local=False)  # the pool arrays hold the train references only
    raw = score_arrays(arrays, recipe, ctx.seed)
    return arrays.model_ids, _calibrated(sd, arrays, phase, raw, pool, pool_paths, recipe, mode, ctx.seed)


def ddp_scores(
    sd: ScenarioData,
    phase: str,
    paths: dict,
    recipe: Recipe,
    ctx,
    *,
    pool_size: int = 2000,
    mode: str = "lr",
    normaliser: str = "minmax",
):
    """``PhaseScores`` of a dev/final phase with every target calibrated against its own known points."""
    raw = ddp_raw_scores(sd, phase, paths, recipe, ctx, pool_size=pool_size, mode=mode)
    return PhaseScores.pooled(phase, *raw, normaliser)


def ddp_validation_scores(
    sd: ScenarioData, paths: dict, recipe: Recipe, ctx, *, pool_size: int = 2000, mode: str = "lr", n_folds: int = 4
):
    """(solution, scores, groups) on the train models, fold by fold, with the same own calibration."""
    pool, pool_paths = _pool_and_outputs(sd, ctx, pool_size)

    def score(fold):  # a fold's targets are train models
        return _calibrated(
            sd, fold, "train", score_arrays(fold, recipe, ctx.seed), pool, pool_paths, recipe, mode, ctx.seed
        )

    return pool_folds(validation_folds(sd, paths, n_folds, ctx.seed), score)
