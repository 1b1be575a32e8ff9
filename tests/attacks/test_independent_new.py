"""BASE and BaVarIA against independent per-point code.

The reference side is written from the papers' formulas alone, one point at a time with ``math``,
``statistics`` and ``scipy.stats`` — no toolkit helper — on a small random fixture
(6 references × 30 points × 1 view × 4 classes).
"""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
from scipy.stats import norm
from scipy.stats import t as student_t

from toolkit.attacks import run_attack

R, P, C = 6, 30, 4


@pytest.fixture(scope="module")
def fixture():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, C, P)
    target = rng.normal(0, 2, (P, 1, C)).astype(np.float32)
    ref = rng.normal(0, 2, (R, P, 1, C)).astype(np.float32)
    keep = rng.random((R, P)) < 0.5
    keep[:, 0], keep[:, 1] = True, False  # one point without OUT, one without IN reference
    return target, labels, ref, keep


def tempered_p(z, y, temperature):
    scaled = [float(v) / temperature for v in z]
    top = max(scaled)
    return math.exp(scaled[y] - top) / sum(math.exp(v - top) for v in scaled)


def phi_of(z, y):
    others = [float(v) for i, v in enumerate(z) if i != y]
    top = max(others)
    return float(z[y]) - (top + math.log(sum(math.exp(v - top) for v in others)))


def base_by_hand(target, labels, ref, keep, online, temperature=2.0, scale=0.33):
    out = []
    for j in range(P):
        y = int(labels[j])
        p_t = tempered_p(target[j, 0], y, temperature)
        p_all = [tempered_p(ref[k, j, 0], y, temperature) for k in range(R)]
        if online:
            out.append(math.log(p_t) - math.log(sum(p_all) / R))
            continue
        p_out = [p_all[k] for k in range(R) if not keep[k, j]] or p_all
        out.append(math.log(p_t) - scale * math.log(sum(p_out) / len(p_out)))
    return out


@pytest.mark.parametrize("online", [True, False])
def test_base_matches_per_point_code(fixture, online):
    target, labels, ref, keep = fixture
    got = run_attack("base", target, labels, ref, keep, online=online)
    np.testing.assert_allclose(got, base_by_hand(target, labels, ref, keep, online), rtol=1e-6, atol=1e-6)


def sides_by_hand(ref, labels, keep, online):
    """Per point: (φ values of the IN side, of the OUT side); offline the IN side is empty."""
    sides = []
    for j in range(P):
        phis = [phi_of(ref[k, j, 0], int(labels[j])) for k in range(R)]
        ins = [phis[k] for k in range(R) if keep[k, j]] if online else []
        sides.append((ins, [phis[k] for k in range(R) if not keep[k, j]]))
    return sides


def prior_by_hand(sides):
    """Moment-matched inverse gamma on the sample variances, μ0 = mean of side means, κ0 = m / τ²."""
    samples = [xs for pair in sides for xs in pair if xs]
    variances = [statistics.variance(xs) for xs in samples if len(xs) >= 2]
    m = statistics.fmean(variances)
    alpha0 = min(2 + m * m / statistics.pvariance(variances), 1e6)
    means = [statistics.fmean(xs) for xs in samples]
    tau2 = statistics.pvariance(means) - statistics.fmean([m / len(xs) for xs in samples])
    kappa0 = min(max(m / tau2, 1e-3), 1e3) if tau2 > 0 else 1e3
    return statistics.fmean(means), kappa0, alpha0, (alpha0 - 1) * m


def log_pred_by_hand(s, xs, prior, variant):
    mu0, k0, a0, b0 = prior
    n = len(xs)
    xbar = statistics.fmean(xs) if xs else mu0
    ss = sum((v - xbar) ** 2 for v in xs)
    kn, an = k0 + n, a0 + n / 2
    mun = (k0 * mu0 + n * xbar) / kn
    bn = b0 + ss / 2 + k0 * n * (xbar - mu0) ** 2 / (2 * kn)
    if variant == "t":
        return student_t.logpdf(s, 2 * an, loc=mun, scale=math.sqrt(bn * (kn + 1) / (an * kn)))
    return norm.logpdf(s, mun, math.sqrt(bn / (an - 1) * (1 + 1 / kn)))


@pytest.mark.parametrize("variant", ["t", "n"])
@pytest.mark.parametrize("online", [True, False])
def test_bavaria_matches_per_point_code(fixture, variant, online):
    target, labels, ref, keep = fixture
    sides = sides_by_hand(ref, labels, keep, online)
    prior = prior_by_hand(sides)
    want = []
    for j, (ins, outs) in enumerate(sides):
        s = phi_of(target[j, 0], int(labels[j]))
        want.append(log_pred_by_hand(s, ins, prior, variant) - log_pred_by_hand(s, outs, prior, variant))
    got = run_attack("bavaria", target, labels, ref, keep, variant=variant, online=online)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
