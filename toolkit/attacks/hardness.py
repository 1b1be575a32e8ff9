"""Hardness calibration: the MICO winner's attack (all four tracks, 2023).

For each point x, the signal s of every reference model is split by membership into
μ_in, μ_out, μ_all, σ_all; the target's signal is then calibrated by one formula:

- ``in``:   s − μ_in
- ``mid``:  s − (μ_in + μ_out)/2
- ``z``:    (s − μ_all)/σ_all
- ``gap``:  (μ_in − μ_out)·(s − (μ_in + μ_out)/2), the midpoint weighted by the point's IN−OUT gap:
  the log-likelihood ratio of two Gaussians with one shared variance, so a point whose references
  barely separate IN from OUT counts little (one of the scores compared at 8 references by
  Brännvall, "Exponential-Family Membership Inference: From LiRA and RMIA to BaVarIA", arXiv
  2603.11799, 2026). A point missing one side takes the median gap of the points that have both.

with s oriented so that higher = member (for the loss this is −loss, i.e. μ_in − loss).
Points with no IN (or OUT) reference fall back to the statistic that exists (μ_out for μ_in and
vice versa, μ_all when both are missing, 0 when there are no references at all), so scores stay
finite. ``pool="class"`` shrinks each point's μ_in and μ_out toward its class's
(``reference_stats.pooled_mean``): for the few-reference regime, where a point has a handful of
OUT models or none. Inspired by LiRA (Carlini et al. 2022), which calibrates by a likelihood ratio instead.
"""

from __future__ import annotations

import numpy as np

from toolkit.attacks.reference_stats import POOLS, fill_missing_side, masked_mean, masked_std, pooled_mean
from toolkit.attacks.registry import FIXED, SIGNAL, Choice, register
from toolkit.errors import ConfigError
from toolkit.signals import oriented

FORMULAS = ("in", "mid", "z", "gap")


def calibrate(
    s: np.ndarray, ref_s: np.ndarray, keep: np.ndarray, formula: str = "in", pool: str = "none", labels=None
) -> np.ndarray:
    """Calibrate target signal ``s`` [n_points] by reference signals ``ref_s`` [n_ref, n_points]."""
    if formula not in FORMULAS:
        raise ConfigError(f"unknown hardness formula {formula!r}; valid: {', '.join(FORMULAS)}")
    everyone = np.ones_like(keep)
    mu_all = np.nan_to_num(masked_mean(ref_s, everyone), nan=0.0)
    if formula == "z":
        sd = masked_std(ref_s, everyone)
        fallback = np.nanmedian(sd) if np.isfinite(sd).any() else 1.0
        sd = np.where(np.isfinite(sd) & (sd > 0), sd, fallback if fallback > 0 else 1.0)
        return (s - mu_all) / sd
    mu_in, mu_out = (pooled_mean(ref_s, side, labels, pool) for side in (keep, ~keep))
    if formula == "gap":
        mu_in_f, mu_out_f, has_gap = fill_missing_side(mu_in, mu_out, mu_all)
        # no point with both sides: no gap to weight by, so the midpoint alone (the side that exists)
        return (mu_in_f - mu_out_f if has_gap else 1.0) * (s - (mu_in_f + mu_out_f) / 2)
    mu_in_f = np.where(np.isnan(mu_in), np.where(np.isnan(mu_out), mu_all, mu_out), mu_in)
    mu_out_f = np.where(np.isnan(mu_out), mu_in_f, mu_out)
    if formula == "in":
        return s - mu_in_f
    return s - (mu_in_f + mu_out_f) / 2


@register(
    "hardness",
    simplicity=1,
    needs_references=True,
    tuning={"signal": SIGNAL, "formula": Choice(("in", "mid", "z")), "pool": FIXED},
    variants=[
        {"formula": "in"},
        {"formula": "mid"},
        {"formula": "z"},
        {"formula": "gap"},
        {"formula": "mid", "pool": "class"},
    ],
    stacker_features={4: {}},
)
def hardness(
    target, labels, ref, keep, *, groups=None, seed=0, signal: str = "loss", formula: str = "in", pool: str = "none"
) -> np.ndarray:
    """MICO winner's per-point hardness calibration of ``signal`` with ``formula`` (in | mid | z | gap);
    ``pool`` (none | class) shrinks the per-point IN/OUT means toward the class's."""
    if pool not in POOLS:
        raise ConfigError(f"unknown pool {pool!r}; valid: {', '.join(POOLS)}")
    s = oriented(signal, target, labels).mean(axis=-1)
    ref_s = oriented(signal, ref, labels).mean(axis=-1)
    return calibrate(s, ref_s, keep, formula, pool, labels)
