"""Per-point statistics of reference models, split by membership (shared by calibrated attacks).

All functions are vectorised over points; a point with no IN (or OUT) reference gets NaN in the
corresponding statistic and a count of zero, and callers choose the fallback.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "masked_mean",
    "masked_std",
    "masked_median",
    "pooled_mean",
    "shrink_to_class",
    "fill_missing_side",
    "POOLS",
    "POOL_STRENGTH",
]

POOLS = ("none", "class")
POOL_STRENGTH = 4.0  # pseudo-references the class statistic is worth: outweighed once a point has a few of its own


def masked_mean(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean over axis 0 of ``values`` [n_ref, n_points] where ``mask``; NaN where none."""
    count = mask.sum(0)
    total = np.where(mask, values, 0.0).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def masked_std(values: np.ndarray, mask: np.ndarray, ddof: int = 0) -> np.ndarray:
    """Standard deviation over axis 0 where ``mask``; NaN where fewer than ddof+1 values."""
    count = mask.sum(0)
    mu = masked_mean(values, mask)
    sq = np.where(mask, (values - np.nan_to_num(mu)) ** 2, 0.0).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > ddof, np.sqrt(sq / np.maximum(count - ddof, 1)), np.nan)


def masked_median(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Median over axis 0 where ``mask``; NaN where none."""
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmedian(np.where(mask, values, np.nan), axis=0)


def shrink_to_class(stat: np.ndarray, count: np.ndarray, labels: np.ndarray, strength: float = POOL_STRENGTH):
    """Per-point ``stat`` [..., P] (NaN where ``count`` is 0) shrunk toward its class's count-weighted mean.

    s̃(x) = (n_x·s(x) + k·s̄_c) / (n_x + k), with s̄_c = Σ_{x∈c} n_x s(x) / Σ_{x∈c} n_x over the points of
    x's class c among those scored, and k = ``strength``: a point with no sample of its own takes its
    class's value, one with many keeps its own. Pooling over similar points where a point has few
    references is the idea of the proxy attack PMIA (Du et al., "Cascading and Proxy Membership Inference
    Attacks", NDSS 2026, arXiv 2511.04716); this conjugate-style weighting is our choice.
    A class with no sample at all leaves its points' values as they are (NaN stays NaN).
    """
    labels = np.asarray(labels, dtype=np.int64)
    _, cls = np.unique(labels, return_inverse=True)
    cls = cls.reshape(labels.shape)
    flat_stat = stat.reshape(-1, stat.shape[-1])
    flat_n = np.broadcast_to(count, stat.shape).reshape(-1, stat.shape[-1]).astype(np.float64)
    out = np.empty_like(flat_stat, dtype=np.float64)
    for row in range(len(flat_stat)):  # one row per view: a handful, each vectorised over points
        n, v = flat_n[row], np.nan_to_num(flat_stat[row])
        tot_n = np.bincount(cls, weights=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            cmean = np.bincount(cls, weights=n * v) / tot_n
        pooled = (n * v + strength * cmean[cls]) / (n + strength)
        out[row] = np.where(tot_n[cls] > 0, pooled, flat_stat[row])
    return out.reshape(stat.shape)


def pooled_mean(values: np.ndarray, mask: np.ndarray, labels, pool: str = "none") -> np.ndarray:
    """``masked_mean`` over axis 0, shrunk toward the class's (``shrink_to_class``) when ``pool == "class"``."""
    mu = masked_mean(values, mask)
    if pool == "none" or labels is None or len(values) == 0:
        return mu
    return shrink_to_class(mu, mask.sum(0), labels)


def fill_missing_side(mu_in: np.ndarray, mu_out: np.ndarray, fallback: np.ndarray):
    """Fill a missing side by the median IN−OUT gap Δ; return (μ_in, μ_out, has_gap)."""
    both = np.isfinite(mu_in) & np.isfinite(mu_out)
    if not both.any():
        known = np.where(np.isfinite(mu_in), mu_in, np.where(np.isfinite(mu_out), mu_out, fallback))
        return known, known, False
    gap = float(np.median((mu_in - mu_out)[both]))
    mu_in_f = np.where(np.isfinite(mu_in), mu_in, mu_out + gap)
    mu_out_f = np.where(np.isfinite(mu_out), mu_out, mu_in_f - gap)
    mu_in_f = np.where(np.isfinite(mu_in_f), mu_in_f, fallback + gap / 2)
    mu_out_f = np.where(np.isfinite(mu_out_f), mu_out_f, fallback - gap / 2)
    return mu_in_f, mu_out_f, True
