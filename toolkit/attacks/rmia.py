"""RMIA, the relative membership-inference attack (Zarifzadeh, Liu, Shokri, "Low-Cost
High-Power Membership Inference Attacks", ICML 2024).

    ratio(x) = Pr(x | θ) / Pr(x)
    Pr(x | θ) = p_y(x) of the target, softmax(z / T)       (T = ``temperature``)
    Pr(x)     = mean_k p_y^k(x) over all references         (online)
              ≈ ½ [(1 + a) · P_OUT(x) + (1 − a)]           (offline; P_OUT = mean over OUT refs)
    score(x)  = |{z ∈ Z : ratio(x) / ratio(z) ≥ γ}| / |Z|

Choice of the population Z: every row of the same target (the same ``groups`` id), x included.
Z must be queried on the same model as x, so the rows of the other targets cannot serve; x itself
only counts when γ ≤ 1. The count is a per-target quantile in [0, 1], comparable when the scores
of many targets are pooled (MICO). Ties (same count) are broken by the rank of ratio(x) within the
target: score = (count + rank/|Z|) / (|Z| + 1), still in [0, 1).

Views are averaged in probability space before the ratio. Fallbacks: in offline mode a point
without OUT references uses the mean over all its references; a point with no reference at all
gets Pr(x) = 1 (the ratio is then the target's confidence).
"""

from __future__ import annotations

import numpy as np

from toolkit.attacks.reference_stats import masked_mean
from toolkit.attacks.registry import BOOL, TEMPERATURE, FloatRange, register
from toolkit.errors import ConfigError
from toolkit.signals import log_softmax

__all__ = ["true_class_prob", "reference_prob", "pairwise_quantile", "rmia"]


def true_class_prob(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """softmax(z / T)_y averaged over views: [..., P, V, C] -> [..., P]."""
    logp = log_softmax(np.asarray(logits, dtype=np.float64) / temperature)
    idx = np.broadcast_to(labels.reshape(-1, 1, 1), logp.shape[:-1] + (1,))
    return np.exp(np.take_along_axis(logp, idx, axis=-1)[..., 0]).mean(axis=-1)


def reference_prob(ref_p: np.ndarray, keep: np.ndarray, *, offline: bool = True, a: float = 0.3) -> np.ndarray:
    """Pr(x) from reference p_y ``ref_p`` [R, P] and ``keep`` [R, P] (module docstring)."""
    n = ref_p.shape[1]
    if ref_p.shape[0] == 0:
        return np.ones(n)
    p_all = masked_mean(ref_p, np.ones_like(keep, dtype=bool))
    if not offline:
        return p_all
    p_out = masked_mean(ref_p, ~keep)
    return np.where(np.isnan(p_out), p_all, 0.5 * ((1 + a) * np.nan_to_num(p_out) + (1 - a)))


def pairwise_quantile(log_ratio: np.ndarray, groups: np.ndarray, gamma: float) -> np.ndarray:
    """(count + rank/n)/(n + 1) with count = |{z in x's group: log r(z) ≤ log r(x) − log γ}|.

    Sort once per group and binary-search, O(n log n) instead of the O(n²) pair table.
    """
    out = np.empty(len(log_ratio))
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        lr = log_ratio[rows]
        srt = np.sort(lr)
        n = len(rows)
        count = np.searchsorted(srt, lr - np.log(gamma), side="right")
        rank = np.argsort(np.argsort(lr, kind="stable"), kind="stable")
        out[rows] = (count + rank / n) / (n + 1)
    return out


@register(
    "rmia",
    simplicity=2,
    needs_references=True,
    tuning={"offline": BOOL, "a": FloatRange(0.0, 1.0), "gamma": FloatRange(1.0, 4.0), "temperature": TEMPERATURE},
    variants=[{}, {"offline": False}],
    stacker_features={2: {}},
)
def rmia(
    target,
    labels,
    ref,
    keep,
    *,
    groups=None,
    seed=0,
    offline: bool = True,
    a: float = 0.3,
    gamma: float = 2.0,
    temperature: float = 1.0,
) -> np.ndarray:
    """Zarifzadeh, Liu & Shokri (ICML 2024): pairwise likelihood-ratio test; see the module docstring."""
    if not (0.0 <= a <= 1.0) or gamma <= 0 or temperature <= 0:
        raise ConfigError(
            f"rmia needs 0 <= a <= 1, gamma > 0, temperature > 0; got a={a}, gamma={gamma}, temperature={temperature}"
        )
    labels = np.asarray(labels)
    p_target = true_class_prob(target, labels, temperature)
    ref_p = true_class_prob(ref, labels, temperature)
    pr_x = reference_prob(ref_p, np.asarray(keep, dtype=bool), offline=offline, a=a)
    tiny = np.finfo(np.float64).tiny
    log_ratio = np.log(np.maximum(p_target, tiny)) - np.log(np.maximum(pr_x, tiny))
    return pairwise_quantile(log_ratio, np.asarray(groups), gamma)
