"""BaVarIA, Bayesian variance inference (Brännvall, "Exponential-Family Membership Inference: From
LiRA and RMIA to BaVarIA", arXiv 2603.11799, 2026): LiRA's Gaussian likelihood ratio on
φ = log(p_y / (1 − p_y)) where each point's IN and OUT mean and variance are posterior estimates
under a conjugate normal-inverse-gamma prior, instead of LiRA's switch between per-point and one
fixed variance.

Model, per point x and side (IN or OUT), for the reference scores φ_1..φ_n of that side:
φ_k ~ N(μ, σ²), μ | σ² ~ N(μ0, σ²/κ0), σ² ~ IG(α0, β0). With x̄ the side's mean and
S = Σ (φ_k − x̄)², the standard conjugate update (Murphy 2007, "Conjugate Bayesian analysis of
the Gaussian distribution", §6) is

    κn = κ0 + n,  μn = (κ0 μ0 + n x̄) / κn,  αn = α0 + n/2,
    βn = β0 + S/2 + κ0 n (x̄ − μ0)² / (2 κn)

and the target's φ = s scores  log p_IN(s) − log p_OUT(s)  with, per side,

- ``variant="t"``: the Student-t posterior predictive, 2αn degrees of freedom, location μn,
  scale² = βn (κn + 1) / (αn κn)                                       (BaVarIA-t)
- ``variant="n"``: a Gaussian N(μn, σ̄² (1 + 1/κn)) with the posterior-mean variance
  σ̄² = E[σ² | φ] = βn / (αn − 1), widened by the posterior uncertainty of μ — the Gaussian with
  the t predictive's mean and variance; with many references it is the plug-in N(μn, σ̄²)  (BaVarIA-n)

Prior (empirical Bayes; the paper's exact fitting rule was not available to us, so this is our
choice): one prior fitted on the per-point statistics of all references pooled (IN and OUT sides
of every point and view; offline, the OUT sides only). With s²(x) the per-side sample variances
(ddof = 1, sides with n ≥ 2), m = mean s², v = var s², the inverse gamma is moment-matched,
α0 = 2 + m²/v, β0 = (α0 − 1) m (so E σ² = m; v also counts the sampling noise of s², which keeps
the prior no stronger than the data justify). μ0 is the mean of the per-side means x̄(x), and
κ0 = m / τ² with τ² = var x̄ − mean(m / n) the spread of true point means (μ | σ² has variance
σ²/κ0). κ0 is clipped to [1e-3, 1e3], α0 to ≤ 1e6.

Offline (``online=False``) the IN references are not used: the IN side has no sample and falls back
to the prior predictive, so the score compares the population-wide prior with the point's OUT
posterior. A point without IN (OUT) reference online likewise uses the prior for that side; no
reference at all gives φ itself. With several views the per-view scores are averaged.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.stats import t as student_t

from toolkit.attacks.lira import gaussian_logpdf
from toolkit.attacks.registry import BOOL, FIXED, register
from toolkit.errors import ConfigError
from toolkit.signals import phi

__all__ = ["VARIANTS", "NIG", "side_stats", "fit_prior", "posterior", "log_predictive", "bavaria_scores", "bavaria"]

VARIANTS = ("n", "t")
_KAPPA_RANGE = (1e-3, 1e3)
_ALPHA_MAX = 1e6


class NIG(NamedTuple):
    """Normal-inverse-gamma parameters (scalars for the prior, arrays for posteriors)."""

    mu: np.ndarray
    kappa: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray


def side_stats(values: np.ndarray, mask: np.ndarray):
    """(n, mean, S) over axis 0 of ``values`` [R, P, V] where ``mask`` [R, P]; mean is NaN where n = 0."""
    m = np.broadcast_to(np.asarray(mask, dtype=bool)[..., None], values.shape)
    n = m.sum(0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, np.where(m, values, 0.0).sum(0) / n, np.nan)
    ss = np.where(m, (values - np.nan_to_num(mean)) ** 2, 0.0).sum(0)
    return n, mean, ss


def _variance_prior(n: np.ndarray, ss: np.ndarray, fallback: float):
    """(α0, β0, m) moment-matched to the sample variances of sides with n ≥ 2."""
    ok = n >= 2
    s2 = ss[ok] / (n[ok] - 1)
    m = float(s2.mean()) if s2.size else fallback
    m = m if np.isfinite(m) and m > 0 else 1.0
    if s2.size < 2:
        alpha0 = 2.0  # nothing to measure the spread of σ² with: the weakest prior with a finite mean
    else:
        v = float(s2.var())
        alpha0 = min(2.0 + m * m / v, _ALPHA_MAX) if v > 0 else _ALPHA_MAX
    return alpha0, (alpha0 - 1.0) * m, m


def fit_prior(n: np.ndarray, mean: np.ndarray, ss: np.ndarray, fallback_var: float = 1.0) -> NIG:
    """Empirical-Bayes NIG prior from pooled per-side statistics (arrays of any equal shape)."""
    n, mean, ss = (np.ravel(a) for a in (n, mean, ss))
    alpha0, beta0, m = _variance_prior(n, ss, fallback_var)
    seen = n >= 1
    if not seen.any():
        return NIG(0.0, _KAPPA_RANGE[0], alpha0, beta0)
    xbar = mean[seen]
    tau2 = float(xbar.var() - np.mean(m / n[seen])) if xbar.size > 1 else 0.0
    kappa0 = m / tau2 if tau2 > 0 else _KAPPA_RANGE[1]
    return NIG(float(xbar.mean()), float(np.clip(kappa0, *_KAPPA_RANGE)), alpha0, beta0)


def posterior(prior: NIG, n: np.ndarray, mean: np.ndarray, ss: np.ndarray) -> NIG:
    """The conjugate NIG update (module docstring); n = 0 returns the prior."""
    xbar = np.where(n > 0, mean, prior.mu)
    kappa = prior.kappa + n
    mu = (prior.kappa * prior.mu + n * xbar) / kappa
    beta = prior.beta + 0.5 * ss + prior.kappa * n * (xbar - prior.mu) ** 2 / (2.0 * kappa)
    return NIG(mu, kappa, prior.alpha + 0.5 * n, beta)


def log_predictive(s: np.ndarray, post: NIG, variant: str = "t") -> np.ndarray:
    """log density of ``s`` under the posterior: Student-t predictive or its moment-matched Gaussian."""
    if variant == "t":
        scale = np.sqrt(post.beta * (post.kappa + 1.0) / (post.alpha * post.kappa))
        return student_t.logpdf(s, 2.0 * post.alpha, loc=post.mu, scale=scale)
    var = post.beta / (post.alpha - 1.0) * (1.0 + 1.0 / post.kappa)
    return gaussian_logpdf(s, post.mu, np.sqrt(var))


def bavaria_scores(
    target_phi: np.ndarray, ref_phi: np.ndarray, keep: np.ndarray, *, online: bool = True, variant: str = "t"
) -> np.ndarray:
    """BaVarIA on signals: ``target_phi`` [P, V], ``ref_phi`` [R, P, V], ``keep`` [R, P] -> [P]."""
    s = np.asarray(target_phi, dtype=np.float64)
    s = s[:, None] if s.ndim == 1 else s
    ref = np.asarray(ref_phi, dtype=np.float64).reshape((-1,) + s.shape)
    if ref.shape[0] == 0:
        return s.mean(axis=-1)
    keep = np.asarray(keep, dtype=bool).reshape(ref.shape[:2])
    k_in = keep if online else np.zeros_like(keep)  # offline: the IN references are not used
    stats_in, stats_out = side_stats(ref, k_in), side_stats(ref, ~keep)
    pooled = [np.concatenate([a, b]) for a, b in zip(stats_in, stats_out)]
    prior = fit_prior(*pooled, fallback_var=float(ref.var()) if ref.size > 1 else 1.0)
    per_view = log_predictive(s, posterior(prior, *stats_in), variant) - log_predictive(
        s, posterior(prior, *stats_out), variant
    )
    return per_view.mean(axis=-1)


@register(
    "bavaria",
    simplicity=3,
    needs_references=True,
    tuning={"variant": FIXED, "online": BOOL},
    variants=[{}, {"variant": "n"}, {"online": False}, {"variant": "n", "online": False}],
)
def bavaria(target, labels, ref, keep, *, groups=None, seed=0, variant: str = "t", online: bool = True) -> np.ndarray:
    """Brännvall (2026) BaVarIA: LiRA with NIG-posterior means and variances; see the module docstring.

    ``variant``: "t" (Student-t predictive) or "n" (Gaussian, posterior-mean variance);
    ``online``: use the IN references (else the IN side is the prior predictive).
    """
    if variant not in VARIANTS:
        raise ConfigError(f"unknown bavaria variant {variant!r}; valid: {', '.join(VARIANTS)}")
    s = phi(target, labels)
    ref_s = phi(ref, labels)
    return bavaria_scores(s, ref_s, keep, online=online, variant=variant)
