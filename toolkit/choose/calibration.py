"""Calibration across target models: per-target transforms of raw attack scores.

MICO pools every target of a phase under one global threshold, and each target holds exactly m
members among its 2m challenge points. Raw scores of different targets need not share a scale
(one target leaks more, another's references are fewer), so a per-target transform can help the
pooled figure:

- ``raw``: the attack's scores as they are (comparable only if the attack makes them so);
- ``rank``: each target's scores replaced by their rank within the target, scaled to [0, 1]: every
  target then contributes its top points equally (it uses the m-of-2m structure: the same share of
  each target lies above any pooled threshold);
- ``zscore``: each target's scores standardised within the target: keeps the shape of the scores
  (a target with a few very confident members keeps them on top) while removing its offset and scale.

Which one wins is measured on the validation split (``mico.auto``), never assumed. Per-target ranks also
make the stackers' features (``fusion_features``, ``choose.fusion``) and ``combine`` a pick of several
candidates (the mean of their per-target ranks, ``choose.rules``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from toolkit.errors import ConfigError

__all__ = ["TRANSFORMS", "per_target", "rank_within", "fusion_features", "combine"]

TRANSFORMS = ("raw", "rank", "zscore")


def rank_within(scores: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Each group's scores replaced by their average rank scaled to [0, 1] (ties share a rank)."""
    from scipy.stats import rankdata  # here: a command's start stays light

    out = np.empty(len(scores))
    for g in np.unique(groups):  # one pass per target model, not per point
        rows = groups == g
        out[rows] = (rankdata(scores[rows]) - 1) / max(rows.sum() - 1, 1)
    return out


def _zscore_within(scores: np.ndarray, groups: np.ndarray) -> np.ndarray:
    out = np.empty(len(scores))
    for g in np.unique(groups):
        rows = groups == g
        s = scores[rows]
        sd = s.std()
        out[rows] = (s - s.mean()) / (sd if sd > 0 else 1.0)
    return out


def per_target(scores: np.ndarray, groups: np.ndarray, how: str = "raw") -> np.ndarray:
    """float64 [n] scores after the per-target transform ``how`` (one of ``TRANSFORMS``)."""
    scores = np.asarray(scores, dtype=np.float64)
    if how == "raw":
        return scores
    if how == "rank":
        return rank_within(scores, np.asarray(groups))
    if how == "zscore":
        return _zscore_within(scores, np.asarray(groups))
    raise ConfigError(f"unknown per-target transform {how!r}; valid: {', '.join(TRANSFORMS)}")


def fusion_features(scores: list[np.ndarray], groups: np.ndarray) -> np.ndarray:
    """float64 [n, k]: each recipe's scores ranked within its target, so every input shares one scale."""
    return np.column_stack([per_target(s, groups, "rank") for s in scores])


def combine(scores: Sequence[np.ndarray], groups: np.ndarray | None, how: str) -> np.ndarray:
    """One score vector from a pick's candidates: the only one, or the mean of their per-target ranks
    (``groups`` None: one target)."""
    if how == "one":
        return np.asarray(scores[0], dtype=np.float64)
    if how == "rank_mean":
        groups = np.zeros(len(scores[0]), np.int64) if groups is None else groups
        return np.mean([rank_within(np.asarray(s, dtype=np.float64), groups) for s in scores], axis=0)
    raise ConfigError(f"unknown combination {how!r}; valid: one, rank_mean")
