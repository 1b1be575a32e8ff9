"""InfoRMIA (Tao & Shokri, "(Token-Level) InfoRMIA: Stronger Membership Inference and Memorization
Assessment for LLMs", ICLR 2026, arXiv 2510.05582): RMIA's discrete dominance count replaced by a
continuous information gain, in bits.

With RMIA's ratio r(x) = Pr(x | θ) / Pr(x) (``toolkit.attacks.rmia``: Pr(x | θ) the target's
tempered p_y, Pr(x) the mean of p_y over the references, offline ½[(1 + a) P_OUT(x) + (1 − a)]):

    RMIA:      score(x) = |{z ∈ Z : r(x) / r(z) ≥ γ}| / |Z|
    InfoRMIA:  score(x) = log2 r(x) − Σ_{z ∈ Z} w_z log2 r(z),   w_z = Pr(z) / Σ_{z'} Pr(z')
                        = log2 [Pr(x | θ) / Pr(x)] + D̂_KL(Pr(z) ‖ Pr(z | θ))

The correction is the expected log-ratio of the population under Pr(z) (the KL term of the paper's
composite test), estimated on Z with weights Pr(z) as the implementations in circulation do. It is
one number per target model: within a target InfoRMIA ranks points exactly like log r(x) (like
RMIA with γ = 1, without the count's ties), and it re-centres each target's scores so that those of
many targets can be pooled (MICO) — where a model that raises every point's ratio is discounted.

Population Z: as in ``rmia``, every row of the same target (the same ``groups`` id), x included.
Views are averaged in probability space before the ratio; fallbacks are RMIA's (offline, a point
without OUT reference uses all its references; no reference at all gives Pr(x) = 1).
"""

from __future__ import annotations

import numpy as np

from toolkit.attacks.registry import BOOL, TEMPERATURE, FloatRange, register
from toolkit.attacks.rmia import reference_prob, true_class_prob
from toolkit.errors import ConfigError

__all__ = ["log2_ratio", "population_correction", "informia"]

_TINY = np.finfo(np.float64).tiny


def log2_ratio(p_target: np.ndarray, pr_x: np.ndarray) -> np.ndarray:
    """log2 Pr(x | θ) / Pr(x), with both probabilities clamped away from 0."""
    return np.log2(np.maximum(p_target, _TINY)) - np.log2(np.maximum(pr_x, _TINY))


def population_correction(log_ratio: np.ndarray, pr_x: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Σ_z w_z log r(z) over each row's group, w_z ∝ Pr(z): one value per row, [P]."""
    _, idx = np.unique(groups, return_inverse=True)
    weight = np.maximum(pr_x, _TINY)
    expected = np.bincount(idx, weights=weight * log_ratio) / np.bincount(idx, weights=weight)
    return expected[idx]


@register(
    "informia",
    simplicity=2,
    needs_references=True,
    tuning={"offline": BOOL, "a": FloatRange(0.0, 1.0), "temperature": TEMPERATURE},
    variants=[{}, {"offline": False}],
)
def informia(
    target,
    labels,
    ref,
    keep,
    *,
    groups=None,
    seed=0,
    offline: bool = True,
    a: float = 0.3,
    temperature: float = 1.0,
) -> np.ndarray:
    """Tao & Shokri (ICLR 2026): log2 r(x) minus the Pr(z)-weighted mean of log2 r(z) over x's target."""
    if not (0.0 <= a <= 1.0) or temperature <= 0:
        raise ConfigError(f"informia needs 0 <= a <= 1 and temperature > 0; got a={a}, temperature={temperature}")
    labels = np.asarray(labels)
    p_target = true_class_prob(target, labels, temperature)
    ref_p = true_class_prob(ref, labels, temperature)
    pr_x = reference_prob(ref_p, np.asarray(keep, dtype=bool), offline=offline, a=a)
    log_ratio = log2_ratio(p_target, pr_x)
    return log_ratio - population_correction(log_ratio, pr_x, np.asarray(groups))
