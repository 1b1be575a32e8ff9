"""ROC metrics with explicit conventions.

- ``tpr_at_fpr(..., strict=True)`` is MICO's rule ``max(tpr[fpr < x])`` (also the LiRA code's);
  ``strict=False`` is the inclusive ``fpr <= x`` of ml_privacy_meter and ART.
- ``scorer_metrics`` reproduces the MICO scorer exactly: scikit-learn's ``roc_curve`` with
  defaults over the pooled points of a phase, strict TPR at six FPRs, AUC, MIA advantage
  ``max(tpr − fpr)`` and balanced accuracy ``max(1 − (fpr + 1 − tpr)/2)``.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import auc as _auc
from sklearn.metrics import roc_curve

from toolkit.errors import FormatError

__all__ = [
    "FPR_GRID",
    "roc",
    "tpr_at_fpr",
    "scorer_metrics",
    "metric_key",
    "bootstrap_ci",
    "epsilon_lower_bound",
]

FPR_GRID = (0.001, 0.01, 0.05, 0.1, 0.15, 0.2)


def metric_key(fpr: float) -> str:
    """The scorer's name for TPR at a given FPR: 0.1 -> 'TPR_FPR_1000' (units of 1e-4)."""
    return f"TPR_FPR_{int(round(1e4 * fpr))}"


def _check(labels, scores):
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise FormatError(f"labels and scores must be 1-D of equal length, got {y.shape} and {s.shape}")
    if not np.isfinite(s).all():
        raise FormatError("scores contain NaN or infinite values")
    if not np.isin(y, (0, 1)).all():
        raise FormatError("labels must be 0/1")
    if y.min(initial=1) == y.max(initial=0):
        raise FormatError("labels must contain both members (1) and non-members (0)")
    return y.astype(np.int64), s


def roc(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) as scikit-learn's ``roc_curve`` with defaults."""
    y, s = _check(labels, scores)
    fpr, tpr, _ = roc_curve(y, s)
    return fpr, tpr


def tpr_at_fpr(fpr: np.ndarray, tpr: np.ndarray, x: float, strict: bool = True) -> float:
    """Largest TPR over ROC points with FPR < x (strict) or FPR <= x (inclusive); no interpolation."""
    ok = fpr < x if strict else fpr <= x
    return float(tpr[ok].max()) if ok.any() else 0.0


def scorer_metrics(labels, scores, fprs=FPR_GRID, strict: bool = True) -> dict[str, float]:
    """Every figure of the MICO scorer for one pooled set of points."""
    fpr, tpr = roc(labels, scores)
    out = {metric_key(x): tpr_at_fpr(fpr, tpr, x, strict) for x in fprs}
    out["AUC"] = float(_auc(fpr, tpr))
    out["MIA"] = float(np.max(tpr - fpr))
    out["accuracy"] = float(np.max(1 - (fpr + (1 - tpr)) / 2))
    return out


def bootstrap_ci(
    labels,
    scores,
    statistic,
    *,
    groups=None,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(estimate, low, high) percentile bootstrap of ``statistic(labels, scores)``.

    Resamples points, or whole groups (e.g. target models when scores are pooled) when
    ``groups`` is given, so that correlated points of one model move together.
    """
    y, s = _check(labels, scores)
    rng = np.random.default_rng(seed)
    est = float(statistic(y, s))
    if groups is None:
        blocks = None
    else:
        _, inv = np.unique(np.asarray(groups), return_inverse=True)
        blocks = [np.flatnonzero(inv == k) for k in range(inv.max() + 1)]
    vals = []
    for _ in range(n_boot):
        if blocks is None:
            i = rng.integers(0, len(y), len(y))
        else:
            i = np.concatenate([blocks[k] for k in rng.integers(0, len(blocks), len(blocks))])
        yi = y[i]
        if yi.min() == yi.max():
            continue
        vals.append(statistic(yi, s[i]))
    if not vals:
        return est, est, est
    lo, hi = np.quantile(vals, [(1 - level) / 2, 1 - (1 - level) / 2])
    return est, float(lo), float(hi)


def epsilon_lower_bound(
    tpr: float,
    fpr: float,
    n_pos: int,
    n_neg: int,
    *,
    delta: float = 1e-5,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """(point estimate, 1−alpha confidence lower bound) of ε from one ROC operating point.

    For (ε, δ)-DP: TPR ≤ e^ε FPR + δ and 1 − FPR ≤ e^ε (1 − TPR) + δ, so
    ε ≥ max(ln((TPR − δ)/FPR), ln((1 − δ − FPR)/(1 − TPR))). The confident bound uses
    one-sided Clopper–Pearson limits, lower for TPR and upper for FPR, at alpha/2 each.
    The threshold behind (tpr, fpr) must be chosen on data separate from these counts.
    """
    from scipy.stats import beta

    def eps(t, f):
        cands = []
        if f > 0 and t - delta > 0:
            cands.append(math.log((t - delta) / f))
        if t < 1 and 1 - delta - f > 0:
            cands.append(math.log((1 - delta - f) / (1 - t)))
        return max([0.0] + cands)

    k_pos = int(round(tpr * n_pos))
    k_neg = int(round(fpr * n_neg))
    a = alpha / 2
    tpr_lo = beta.ppf(a, k_pos, n_pos - k_pos + 1) if k_pos > 0 else 0.0
    fpr_hi = beta.ppf(1 - a, k_neg + 1, n_neg - k_neg) if k_neg < n_neg else 1.0
    # the second inequality's worst case uses the lower TPR bound's complement too
    return eps(tpr, fpr), eps(float(tpr_lo), float(fpr_hi))
