"""BASE (Lassila, Östman, Ngo, Graell i Amat, "Practical Bayes-Optimal Membership Inference
Attacks", NeurIPS 2025, arXiv 2505.24089): a log-sum-exp approximation of the Bayes-optimal test.

With p_y(x; θ, T) = softmax(z / T)_y the tempered true-class probability (paper default T = 2),

    online:   score(x) = log p_y(x; θ_target, T) − log mean_k p_y(x; θ_k, T)        (all references)
    offline:  score(x) = log p_y(x; θ_target, T) − a · log mean_{k OUT} p_y(x; θ_k, T)

The baseline log mean_k p_y = logsumexp_k log p_y − log n is computed in log space, so saturated
softmaxes never underflow. Offline, only the references that did not train on x enter the mean, and
the baseline is scaled by a = ``offline_scale`` to compensate for the missing IN models (the
authors' code, LeakPro's ``AttackBASE`` with ``offline_scale_factor`` = 0.33 by default; their GNN
repository ``MIA-audit-GNN`` uses ``threshold_scale_factor`` 0.7). Both pass the score through a
sigmoid, which is monotone and dropped here (log-space scores stay finite and un-saturated).

BASE is RMIA's ratio Pr(x|θ)/Pr(x) without the pairwise comparison (the paper shows the two are
equivalent for one γ), so it ranks points of one target like ``rmia`` with γ = 1 and online Pr(x).

Views: p_y is averaged over views in probability space (as ``rmia``), log mean_v p_y exactly.
Fallbacks: offline, a point without OUT reference uses all its references; with no reference at all
the baseline is 0 and the score is the plain log p_y(x; θ_target, T).
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from toolkit.attacks.registry import BOOL, FIXED, TEMPERATURE, register
from toolkit.errors import ConfigError
from toolkit.signals import log_softmax

__all__ = ["log_true_class_prob", "log_mean_prob", "base_scores", "base"]


def log_true_class_prob(logits: np.ndarray, labels: np.ndarray, temperature: float = 2.0) -> np.ndarray:
    """log mean_v softmax(z / T)_y: [..., P, V, C] -> [..., P], in log space."""
    logp = log_softmax(np.asarray(logits, dtype=np.float64) / temperature)
    idx = np.broadcast_to(np.asarray(labels).reshape(-1, 1, 1), logp.shape[:-1] + (1,))
    per_view = np.take_along_axis(logp, idx, axis=-1)[..., 0]
    return logsumexp(per_view, axis=-1) - np.log(per_view.shape[-1])


def log_mean_prob(ref_logp: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """log mean_{k: mask} exp(ref_logp[k]) per point (axis 0); −inf where the mask is empty."""
    count = mask.sum(0)
    lse = logsumexp(np.where(mask, ref_logp, -np.inf), axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 0, lse - np.log(np.maximum(count, 1)), -np.inf)


def base_scores(
    logp_target: np.ndarray, ref_logp: np.ndarray, keep: np.ndarray, *, online: bool = True, offline_scale: float = 0.33
) -> np.ndarray:
    """BASE on log-probabilities: ``logp_target`` [P], ``ref_logp`` [R, P], ``keep`` bool [R, P]."""
    if ref_logp.shape[0] == 0:
        return np.asarray(logp_target, dtype=np.float64)
    everyone = np.ones_like(keep, dtype=bool)
    baseline = log_mean_prob(ref_logp, everyone)
    if online:
        return logp_target - baseline
    out = log_mean_prob(ref_logp, ~keep)
    # a point that every reference trained on has no OUT mean: use all of its references
    out = np.where(np.isfinite(out), out, baseline)
    return logp_target - offline_scale * out


@register(
    "base",
    simplicity=2,
    needs_references=True,
    tuning={"online": BOOL, "temperature": TEMPERATURE, "offline_scale": FIXED},
    variants=[{}, {"online": False}],
    stacker_features={3: {}},
)
def base(
    target,
    labels,
    ref,
    keep,
    *,
    groups=None,
    seed=0,
    online: bool = True,
    temperature: float = 2.0,
    offline_scale: float = 0.33,
) -> np.ndarray:
    """Lassila et al. (NeurIPS 2025) BASE: log p_y(x; θ, T) − [a ·] log mean_k p_y(x; θ_k, T).

    ``online``: mean over all references (else OUT only, scaled by ``offline_scale``);
    ``temperature``: softmax temperature T (paper: 2).
    """
    if temperature <= 0 or offline_scale < 0:
        raise ConfigError(
            f"base needs temperature > 0 and offline_scale >= 0; got temperature={temperature}, "
            f"offline_scale={offline_scale}"
        )
    labels = np.asarray(labels)
    logp_target = log_true_class_prob(target, labels, temperature)
    ref_logp = log_true_class_prob(ref, labels, temperature)
    return base_scores(logp_target, ref_logp, np.asarray(keep, dtype=bool), online=online, offline_scale=offline_scale)
