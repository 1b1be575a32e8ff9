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

from toolkit.errors import FormatError
from toolkit.signals import label_problems, score_problems

__all__ = [
    "FPR_GRID",
    "AUC_WEIGHT",
    "fast_roc",
    "objective_value",
    "figures",
    "gain_ci",
    "roc",
    "tpr_at_fpr",
    "scorer_metrics",
    "metric_key",
    "bootstrap_ci",
    "figure_ci",
    "pooled_ci",
    "selection_corrected",
    "pick_best",
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
    problems = [f"scores: {p}" for p in score_problems(s)] + label_problems(y)
    if problems:
        raise FormatError("; ".join(problems))
    return y.astype(np.int64), s


def roc(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) as scikit-learn's ``roc_curve`` with defaults."""
    from sklearn.metrics import roc_curve  # here, not at the top: a command's start stays light

    y, s = _check(labels, scores)
    fpr, tpr, _ = roc_curve(y, s)
    return fpr, tpr


def tpr_at_fpr(fpr: np.ndarray, tpr: np.ndarray, x: float, strict: bool = True) -> float:
    """Largest TPR over ROC points with FPR < x (strict) or FPR <= x (inclusive); no interpolation."""
    ok = fpr < x if strict else fpr <= x
    return float(tpr[ok].max()) if ok.any() else 0.0


def scorer_metrics(labels, scores, fprs=FPR_GRID, strict: bool = True) -> dict[str, float]:
    """Every figure of the MICO scorer for one pooled set of points."""
    from sklearn.metrics import auc

    fpr, tpr = roc(labels, scores)
    out = {metric_key(x): tpr_at_fpr(fpr, tpr, x, strict) for x in fprs}
    out["AUC"] = float(auc(fpr, tpr))
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
    blocks = _blocks(groups)
    vals = []
    for _ in range(n_boot):
        i = _resample(rng, len(y), blocks)
        yi = y[i]
        if yi.min() == yi.max():
            continue
        vals.append(statistic(yi, s[i]))
    if not vals:
        return est, est, est
    lo, hi = np.quantile(vals, [(1 - level) / 2, 1 - (1 - level) / 2])
    return est, float(lo), float(hi)


def figure_ci(labels, scores, fpr_x: float, *, groups=None, n_boot: int = 200, seed: int = 0) -> list[float]:
    """The 95% interval of a printed figure, strict TPR at ``fpr_x``: the same percentile bootstrap everywhere,
    resampling target models (``groups``) where scores of several are pooled, points otherwise."""
    stat = lambda y, s: tpr_at_fpr(*fast_roc(y, s), fpr_x, strict=True)  # noqa: E731
    _, lo, hi = bootstrap_ci(labels, scores, stat, groups=groups, n_boot=n_boot, seed=seed)
    return [lo, hi]


def pooled_ci(values, intervals) -> list[float]:
    """The 95% interval of the mean of independent figures (scenarios), from each one's 95% interval
    (standard errors from the interval widths, added in quadrature)."""
    se = np.array([(hi - lo) / (2 * 1.959964) for lo, hi in intervals])
    half = 1.959964 * float(np.sqrt((se**2).sum())) / len(se)
    mean = float(np.mean(values))
    return [mean - half, mean + half]


def _blocks(groups) -> list[np.ndarray] | None:
    """The rows of each group (None: every row its own block)."""
    if groups is None:
        return None
    _, inv = np.unique(np.asarray(groups), return_inverse=True)
    return [np.flatnonzero(inv == k) for k in range(inv.max() + 1)]


def _resample(rng, n: int, blocks) -> np.ndarray:
    """Row indices of one bootstrap resample: rows, or whole blocks, drawn with replacement."""
    if blocks is None:
        return rng.integers(0, n, n)
    return np.concatenate([blocks[k] for k in rng.integers(0, len(blocks), len(blocks))])


# The leaderboard's figure as an objective: strict TPR at the board's FPR, the AUC breaking ties.
AUC_WEIGHT = 1e-3


def fast_roc(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) exactly as scikit-learn's ``roc_curve`` with defaults, without its per-call checks.

    One point per distinct score (descending), collinear points dropped (``drop_intermediate``),
    (0, 0) prepended. The bootstraps call this thousands of times; ``roc_curve``'s input
    validation would dominate their cost.
    """
    order = np.argsort(-s, kind="mergesort")
    ys, ss = y[order], s[order]
    last = np.r_[ss[1:] != ss[:-1], True]  # the last row of each tie group is its threshold
    tps = np.cumsum(ys)[last]
    fps = (np.arange(1, len(ys) + 1) - np.cumsum(ys))[last]
    if len(fps) > 2:
        keep = np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True]
        tps, fps = tps[keep], fps[keep]
    return np.r_[0, fps] / max(fps[-1], 1), np.r_[0, tps] / max(tps[-1], 1)  # one class only: no NaN


def objective_value(y: np.ndarray, s: np.ndarray, fpr_x: float) -> tuple[float, float, float]:
    """(objective, strict TPR@fpr_x, AUC) of pooled scores; objective = TPR + AUC_WEIGHT·AUC."""
    fpr, tpr = fast_roc(np.asarray(y), np.asarray(s, dtype=np.float64))
    t = float(tpr[fpr < fpr_x].max())
    a = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1])) / 2)  # trapezoids, as sklearn.metrics.auc
    return t + AUC_WEIGHT * a, t, a


def pick_best(fpr_x: float):
    """The selection "the best validation objective": a ``pick`` for ``selection_corrected``."""

    def pick(y, scores, groups):
        k = int(np.argmax([objective_value(y, s, fpr_x)[0] for s in scores]))
        return lambda held_scores, held_groups: held_scores[k]

    return pick


def selection_corrected(
    labels, scores, pick, *, fpr_x: float, groups=None, n_boot: int = 200, level: float = 0.95, seed: int = 0
) -> dict:
    """The figure of the candidate a selection picks, corrected for having picked the best of many.

    Bootstrap bias-corrected cross-validation (BBC-CV; Tsamardinos, Greasidou & Borboudakis, Machine
    Learning 107, 2018): ``scores`` float [K, n] are every candidate's out-of-sample (out-of-fold or
    validation) scores on the same rows. Each bootstrap re-runs the selection, ``pick(y, scores,
    groups)``, on the resampled rows (whole ``groups`` together, e.g. target models) and measures
    what it picked on the rows left out of that resample; the mean is the estimate, the percentiles
    the interval. ``pick`` returns a function of (the left-out rows' scores [K, m], their groups)
    giving the picked scores [m]. No candidate is refitted: the correction is for the choice alone.
    Returns ``estimate`` and ``ci`` (strict TPR at ``fpr_x``), the uncorrected ``raw`` figure of the
    pick on every row, and the method's name.
    """
    y = np.asarray(labels).astype(np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    g = None if groups is None else np.asarray(groups)
    raw = objective_value(y, pick(y, scores, g)(scores, g), fpr_x)[1]
    rng = np.random.default_rng(seed)
    blocks, vals = _blocks(g), []
    for _ in range(n_boot):
        inside = _resample(rng, len(y), blocks)
        out = np.setdiff1d(np.arange(len(y)), inside)
        if len(out) == 0 or y[inside].min() == y[inside].max() or y[out].min() == y[out].max():
            continue
        chosen = pick(y[inside], scores[:, inside], None if g is None else g[inside])
        vals.append(objective_value(y[out], chosen(scores[:, out], None if g is None else g[out]), fpr_x)[1])
    est = float(np.mean(vals)) if vals else raw
    lo, hi = np.quantile(vals, [(1 - level) / 2, 1 - (1 - level) / 2]) if vals else (raw, raw)
    return {
        "method": "BBC-CV (bootstrap of the whole selection, left-out rows scored)",
        "estimate": est,
        "ci": [float(lo), float(hi)],
        "raw": float(raw),
        "candidates": int(len(scores)),
        "n_boot": len(vals),
    }


def figures(y, s, groups, fpr_x: float, n_boot: int = 500, seed: int = 0) -> dict:
    """Objective with its model-bootstrap CI, plus every scorer figure."""
    stat = lambda yy, ss: objective_value(yy, ss, fpr_x)[0]
    est, lo, hi = bootstrap_ci(y, s, stat, groups=groups, n_boot=n_boot, seed=seed)
    return {
        "objective": est,
        "ci": [lo, hi],
        "fpr": fpr_x,
        "n_targets": int(len(np.unique(groups))),
        **scorer_metrics(y, s),
    }


def gain_ci(y, s_new, s_old, groups, fpr_x: float, n_boot: int = 500, seed: int = 0) -> tuple[float, float, float]:
    """Paired bootstrap of objective(new) − objective(old): both recipes see the same resampled models.

    ``bootstrap_ci`` resamples (labels, scores) rows; the rows' *indices* are passed as scores so that
    the statistic can look up both recipes' scores of the same resample.
    """
    idx = np.arange(len(y), dtype=np.float64)

    def diff(yy, ii):
        i = ii.astype(np.int64)
        return objective_value(yy, s_new[i], fpr_x)[0] - objective_value(yy, s_old[i], fpr_x)[0]

    return bootstrap_ci(y, idx, diff, groups=groups, n_boot=n_boot, seed=seed)


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
