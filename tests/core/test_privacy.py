"""DP ceilings (toolkit.privacy) against computations that share none of its code: the Gaussian mechanism's
closed form (μ-GDP), the subsampled mechanism's exact one-step trade-off and a Monte-Carlo of a few steps."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from scipy.stats import norm

from toolkit import privacy
from toolkit.errors import ConfigError
from toolkit.privacy import cached_ceiling, ceiling_curve, tpr_ceiling, tradeoff

pytest.importorskip("dp_accounting")

FPRS = np.array([0.001, 0.01, 0.05, 0.1, 0.2, 0.5])


def _concave_envelope(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The least concave majorant of the points (x sorted ascending), evaluated at x (upper hull, monotone chain)."""
    hull: list[int] = []
    for i in range(len(x)):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            if (y[b] - y[a]) * (x[i] - x[a]) <= (y[i] - y[a]) * (x[b] - x[a]):
                hull.pop()
            else:
                break
        hull.append(i)
    return np.interp(x, x[hull], y[hull])


def _symmetric_ceiling(fpr_grid, tpr_remove, fpr_add, tpr_add, at):
    """The tightest bound on both directions' tests: the least concave majorant of the two ROC curves
    (Dong, Roth & Su 2019: the symmetric trade-off is min(f, f⁻¹)**; the reverse direction's ROC is the
    forward one mirrored in the anti-diagonal)."""
    x = np.concatenate([fpr_grid, fpr_add, [1.0]])
    y = np.concatenate([tpr_remove, tpr_add, [1.0]])
    order = np.argsort(x, kind="stable")
    x, y = x[order], np.maximum.accumulate(y[order])
    return np.interp(at, x, _concave_envelope(x, y))


@pytest.mark.parametrize("steps, sigma", [(1, 1.0), (100, 10.0), (400, 8.0), (25, 2.5)])
def test_full_batch_is_gaussian_dp(steps, sigma):
    """q = 1: T Gaussian steps of std σ are exactly μ-GDP, μ = √T/σ, whose trade-off is TPR = Φ(Φ⁻¹(α) + μ)."""
    mu = np.sqrt(steps) / sigma
    exact = norm.cdf(norm.ppf(FPRS) + mu)
    got = tpr_ceiling(FPRS, sample_rate=1.0, steps=steps, noise_multiplier=sigma)
    assert np.abs(got - exact).max() < 0.01
    assert np.all(got >= exact - 1e-3)  # a bound: never below the exact curve (pessimistic rounding)


def test_one_subsampled_step_exact():
    """T = 1, q = 0.3, σ = 0.8: with the record, N(1, σ²) w.p. q else N(0, σ²); without it, N(0, σ²). A threshold
    on the output is the Neyman–Pearson test; the other direction is the same pair swapped."""
    q, sigma = 0.3, 0.8
    t = np.linspace(-8, 9, 20001)
    fpr_r = norm.sf(t / sigma)  # remove direction: non-member world N(0, σ²)
    tpr_r = (1 - q) * norm.sf(t / sigma) + q * norm.sf((t - 1) / sigma)
    fpr_a, tpr_a = 1 - tpr_r, 1 - fpr_r  # the reverse direction's test (record-free world as "member"): x < t
    order = np.argsort(fpr_r)
    exact = _symmetric_ceiling(fpr_r[order], tpr_r[order], fpr_a, tpr_a, FPRS)
    got = tpr_ceiling(FPRS, sample_rate=q, steps=1, noise_multiplier=sigma)
    assert np.abs(got - exact).max() < 0.01
    assert np.all(got >= exact - 1e-3)


def test_few_subsampled_steps_monte_carlo():
    """T = 8, q = 0.2, σ = 1: the summed privacy loss sampled in both worlds (400,000 runs each); the best test
    thresholds it (Neyman–Pearson), so its ROC is the exact trade-off up to sampling error (< 0.003 here)."""
    q, sigma, steps, n = 0.2, 1.0, 8, 400_000
    rng = np.random.default_rng(7)

    def loss(x):  # log of (1 − q)·N(x; 0, σ²) + q·N(x; 1, σ²) over N(x; 0, σ²)
        return np.log1p(q * np.expm1((2 * x - 1) / (2 * sigma**2)))

    without = rng.normal(0.0, sigma, (n, steps))
    member = rng.random((n, steps)) < q
    with_ = rng.normal(member.astype(float), sigma)
    l_out, l_in = loss(without).sum(1), loss(with_).sum(1)
    thresholds = np.quantile(l_out, 1 - np.logspace(-3.5, 0, 400))
    fpr_r = (l_out[None, :] > thresholds[:, None]).mean(1)
    tpr_r = (l_in[None, :] > thresholds[:, None]).mean(1)
    thresholds = np.quantile(l_in, np.logspace(-3.5, 0, 400))
    fpr_a = (l_in[None, :] < thresholds[:, None]).mean(1)  # the reverse test: small loss ⇒ "without"
    tpr_a = (l_out[None, :] < thresholds[:, None]).mean(1)
    order = np.argsort(fpr_r)
    exact = _symmetric_ceiling(fpr_r[order], tpr_r[order], fpr_a, tpr_a, FPRS[1:])
    got = tpr_ceiling(FPRS[1:], sample_rate=q, steps=steps, noise_multiplier=sigma)
    assert np.abs(got - exact).max() < 0.01


def test_tradeoff_of_pure_dp_by_hand():
    """A profile δ(ε) = 0 for ε ≥ 1 (pure 1-DP): f(α) = max(0, 1 − e·α, e⁻¹(1 − α)); at α = 0.1, 0.5, 1."""
    eps = np.array([0.0, 0.5, 1.0, 2.0])
    delta = np.array([1 - np.exp(-1), 1 - np.exp(-0.5), 0.0, 0.0])  # any valid profile above: irrelevant here
    got = tradeoff(np.array([0.1, 0.5, 1.0]), eps, delta)
    assert got == pytest.approx([1 - np.e * 0.1, np.exp(-1) * 0.5, 0.0])


def test_tradeoff_of_many_fprs_is_each_ones():
    """FPRs are taken in blocks: 1,300 of them (three blocks, the last partial) give each one's own value."""
    rng = np.random.default_rng(1)
    eps, delta = np.linspace(0, 5, 50), np.sort(rng.random(50))[::-1] * 0.1
    fpr = rng.random(1300)
    one = [max(0.0, max(max(1 - d - np.exp(e) * a, np.exp(-e) * (1 - d - a)) for e, d in zip(eps, delta))) for a in fpr]
    np.testing.assert_allclose(tradeoff(fpr, eps, delta), one, rtol=0, atol=1e-12)


def test_scalar_in_scalar_out_and_a_monotone_curve():
    one = tpr_ceiling(0.1, sample_rate=0.01, steps=100, noise_multiplier=1.0)
    assert isinstance(one, float) and 0.1 < one < 1
    fpr, tpr = ceiling_curve(sample_rate=0.01, steps=100, noise_multiplier=1.0, points=31)
    assert fpr[0] == pytest.approx(1e-6) and fpr[-1] == 1.0 and len(fpr) == 31
    assert np.all(np.diff(tpr) >= -1e-12) and np.all(tpr >= fpr) and tpr[-1] == pytest.approx(1.0)


def test_more_noise_lowers_the_ceiling():
    kw = dict(sample_rate=0.02, steps=500)
    assert tpr_ceiling(0.1, noise_multiplier=2.0, **kw) < tpr_ceiling(0.1, noise_multiplier=1.0, **kw)


@pytest.mark.parametrize(
    "bad", [dict(sample_rate=0.0), dict(sample_rate=1.5), dict(steps=0), dict(noise_multiplier=-1.0)]
)
def test_bad_recipe_is_one_line(bad):
    kw = dict(sample_rate=0.1, steps=10, noise_multiplier=1.0) | bad
    with pytest.raises(ConfigError, match="DP ceiling"):
        tpr_ceiling(0.1, **kw)


def test_the_cache_is_keyed_by_the_recipe(tmp_path, monkeypatch):
    kw = dict(sample_rate=0.5, steps=40, noise_multiplier=3.0, fprs=(0.1, 0.001), folder=tmp_path)
    first = cached_ceiling(**kw)
    assert first["at"]["0.1"] == pytest.approx(tpr_ceiling(0.1, sample_rate=0.5, steps=40, noise_multiplier=3.0))
    assert first["library"].startswith("dp-accounting ") and len(list(tmp_path.glob("*.json"))) == 1

    def refuse(*a, **k):
        raise AssertionError("recomputed a cached ceiling")

    monkeypatch.setattr(privacy, "privacy_profile", refuse)
    assert cached_ceiling(**kw) == first
    with pytest.raises(AssertionError, match="recomputed"):
        cached_ceiling(**(kw | {"steps": 41}))
    stored = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert stored["key"]["steps"] == 40 and stored["key"]["noise_multiplier"] == 3.0


def test_a_foreign_cache_file_is_recomputed(tmp_path):
    kw = dict(sample_rate=0.5, steps=40, noise_multiplier=3.0, fprs=(0.1,), folder=tmp_path)
    first = cached_ceiling(**kw)
    path = next(tmp_path.glob("*.json"))
    path.write_text(json.dumps({"key": {"other": 1}, "value": {"at": {"0.1": 0.0}}}))
    assert cached_ceiling(**kw)["at"] == first["at"]


def test_importing_the_module_imports_no_accountant():
    code = "import sys, toolkit.privacy; print('dp_accounting' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
