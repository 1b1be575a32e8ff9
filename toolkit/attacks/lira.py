"""LiRA, the likelihood-ratio attack (Carlini et al., "Membership Inference Attacks From First
Principles", IEEE S&P 2022), on the logit-scaled confidence φ = log(p_y / (1 − p_y)).

For a point x, the reference models trained on x give the IN sample {φ_k(x)}, the others the OUT
sample. With μ = median and σ = standard deviation of each sample, the target's φ = s scores

- online:              log N(s; μ_in, σ_in²) − log N(s; μ_out, σ_out²)
- offline, one-sided:  log Φ((s − μ_out)/σ_out)         (the paper's offline test; log keeps Φ ≈ 1 apart)
- offline, two-sided:  −log N(s; μ_out, σ_out²)          (the reference code's offline score)

Fixed variance (better below ~64 references): one σ_in and one σ_out shared by every point, the
pooled residual standard deviation sqrt(mean_x var_k φ_k(x)) over points with ≥ 2 samples — not
the standard deviation of the raw pooled scores, which would add the spread of μ(x) across points.
With several query views the per-view scores are averaged.

Graceful degradation (never NaN): a missing or zero σ falls back to the global one (then to 1);
a point without OUT (IN) references gets μ_out = μ_in − Δ (μ_in = μ_out + Δ) where Δ is the median
gap μ_in − μ_out over points that have both — with a shared σ the online score then equals the
hardness "mid" calibration up to scale. Without any point that has both, online scores become the
hardness z-score (s − μ)/σ on whichever side exists; points with no reference at all use the
global median; with no references at all the score is φ itself (the threshold attack).
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr

from toolkit.attacks.reference_stats import POOLS, fill_missing_side, shrink_to_class
from toolkit.attacks.registry import BOOL, FIXED, register
from toolkit.errors import ConfigError
from toolkit.signals import check_keep, phi

__all__ = ["masked_median", "masked_var", "pooled_sigma", "gaussian_logpdf", "lira_scores", "lira"]

_LOG_2PI = np.log(2 * np.pi)


def masked_median(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Median over axis 0 of ``values`` [R, ...] where ``mask`` (broadcast); NaN where empty.

    Sorting once with the masked entries sent to +inf and indexing the middle is ~10× faster
    than ``np.nanmedian`` on [100, 10000] arrays.
    """
    mask = np.broadcast_to(mask, values.shape)
    count = mask.sum(0)
    srt = np.sort(np.where(mask, values, np.inf), axis=0)
    lo = np.maximum((count - 1) // 2, 0)[None]
    hi = np.maximum(count // 2, 0)[None]
    with np.errstate(invalid="ignore"):
        med = 0.5 * (np.take_along_axis(srt, lo, 0)[0] + np.take_along_axis(srt, hi, 0)[0])
    return np.where(count > 0, med, np.nan)


def masked_var(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Unbiased (ddof=1) variance over axis 0 where ``mask``; NaN with fewer than 2 values."""
    mask = np.broadcast_to(mask, values.shape)
    count = mask.sum(0)
    mean = np.where(mask, values, 0.0).sum(0) / np.maximum(count, 1)
    sq = np.where(mask, (values - mean) ** 2, 0.0).sum(0)
    return np.where(count > 1, sq / np.maximum(count - 1, 1), np.nan)


def pooled_sigma(var: np.ndarray) -> float:
    """sqrt(mean_x var(x)) over the finite per-point variances; NaN if there are none."""
    ok = np.isfinite(var)
    return float(np.sqrt(var[ok].mean())) if ok.any() else float("nan")


def gaussian_logpdf(s: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """log N(s; μ, σ²), elementwise."""
    return -0.5 * ((s - mu) / sigma) ** 2 - np.log(sigma) - 0.5 * _LOG_2PI


def _sigma(var: np.ndarray, fix_variance: bool) -> np.ndarray:
    """Per-point σ, or the pooled one; missing / zero values fall back to pooled, then 1."""
    glob = pooled_sigma(var)
    glob = glob if np.isfinite(glob) and glob > 0 else 1.0
    if fix_variance:
        return np.full(var.shape, glob)
    sd = np.sqrt(var)
    return np.where(np.isfinite(sd) & (sd > 0), sd, glob)


def lira_scores(
    target_phi: np.ndarray,
    ref_phi: np.ndarray,
    keep: np.ndarray,
    *,
    online: bool = True,
    fix_variance: bool = True,
    two_sided: bool = False,
    pool: str = "none",
    labels=None,
) -> np.ndarray:
    """LiRA on signal arrays: ``target_phi`` [P, V], ``ref_phi`` [R, P, V], ``keep`` bool [R, P].

    Returns float64 [P], the per-view scores (see the module docstring) averaged over V. With
    ``pool="class"`` (and ``labels`` [P]) each point's IN and OUT medians and variances are shrunk
    toward its class's (``reference_stats.shrink_to_class``) before the fallbacks.
    """
    s = np.asarray(target_phi, dtype=np.float64)
    if s.ndim == 1:
        s = s[:, None]
    ref = np.asarray(ref_phi, dtype=np.float64).reshape((-1,) + s.shape)
    if ref.shape[0] == 0:
        return s.mean(axis=-1)
    k_in = check_keep(keep, *ref.shape[:2])[..., None]  # a transposed mask is an error, not reshaped
    k_out = ~k_in
    fallback = np.full(s.shape, float(np.median(ref)))
    stats = [masked_median(ref, k_in), masked_median(ref, k_out), masked_var(ref, k_in), masked_var(ref, k_out)]
    if pool == "class" and labels is not None:
        n_in, n_out = k_in.sum(0), k_out.sum(0)  # [P, 1]
        stats = [
            shrink_to_class(v.T, n.T, labels).T
            for v, n in zip(stats, (n_in, n_out, np.maximum(n_in - 1, 0), np.maximum(n_out - 1, 0)))
        ]
    mu_in, mu_out, has_gap = fill_missing_side(stats[0], stats[1], fallback)
    sd_in = _sigma(stats[2], fix_variance)
    sd_out = _sigma(stats[3], fix_variance)
    if not has_gap:
        # one side only everywhere: no likelihood ratio exists, calibrate like hardness "z"
        has_out = k_out.any(0)
        sd = np.where(has_out, sd_out, sd_in)
        per_view = (s - mu_out) / sd
    elif online:
        per_view = gaussian_logpdf(s, mu_in, sd_in) - gaussian_logpdf(s, mu_out, sd_out)
    elif two_sided:
        per_view = -gaussian_logpdf(s, mu_out, sd_out)
    else:
        per_view = log_ndtr((s - mu_out) / sd_out)
    return per_view.mean(axis=-1)


@register(
    "lira",
    simplicity=3,
    needs_references=True,
    tuning={"online": BOOL, "fix_variance": BOOL, "two_sided": BOOL, "pool": FIXED},
    variants=[{}, {"fix_variance": False}, {"online": False}, {"online": False, "two_sided": True}, {"pool": "class"}],
    stacker_features={0: {}, 1: {"fix_variance": False}},
)
def lira(
    target,
    labels,
    ref,
    keep,
    *,
    groups=None,
    seed=0,
    online: bool = True,
    fix_variance: bool = True,
    two_sided: bool = False,
    pool: str = "none",
) -> np.ndarray:
    """Carlini et al. (S&P 2022) likelihood-ratio attack on φ; see the module docstring.

    ``online``: IN and OUT Gaussians (else OUT only); ``fix_variance``: pooled σ shared by all
    points; ``two_sided``: offline score −log N(s; μ_out, σ_out²) instead of log Φ((s−μ_out)/σ_out);
    ``pool`` (none | class): per-point statistics shrunk toward the class's, for few references.
    """
    if pool not in POOLS:
        raise ConfigError(f"unknown pool {pool!r}; valid: {', '.join(POOLS)}")
    s = phi(target, labels)
    ref_s = phi(ref, labels)
    return lira_scores(
        s, ref_s, keep, online=online, fix_variance=fix_variance, two_sided=two_sided, pool=pool, labels=labels
    )
