"""BaVarIA (Brännvall 2026): hand-computed NIG prior, posterior, predictive and scores."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm
from scipy.stats import t as student_t

from toolkit.attacks.bavaria import NIG, bavaria, bavaria_scores, fit_prior, log_predictive, posterior
from toolkit.errors import ConfigError


def test_conjugate_update_hand_values():
    # prior (μ0, κ0, α0, β0) = (0, 1, 2, 1); data {1, 3}: n = 2, x̄ = 2, S = 2
    post = posterior(NIG(0.0, 1.0, 2.0, 1.0), np.array([2.0]), np.array([2.0]), np.array([2.0]))
    # κn = 3, μn = 4/3, αn = 3, βn = 1 + 1 + 1·2·4/(2·3) = 10/3
    np.testing.assert_allclose([post.kappa[0], post.mu[0], post.alpha[0], post.beta[0]], [3, 4 / 3, 3, 10 / 3])


def test_no_sample_returns_the_prior():
    post = posterior(NIG(0.5, 2.0, 3.0, 4.0), np.array([0.0]), np.array([np.nan]), np.array([0.0]))
    np.testing.assert_allclose([post.mu[0], post.kappa[0], post.alpha[0], post.beta[0]], [0.5, 2, 3, 4])


def test_predictive_student_t_and_gaussian():
    post = NIG(np.array([4 / 3]), np.array([3.0]), np.array([3.0]), np.array([10 / 3]))
    s = np.array([0.5])
    # t: 2αn = 6 dof, scale² = βn(κn + 1)/(αn κn) = (10/3)(4)/9
    want_t = student_t.logpdf(0.5, 6, loc=4 / 3, scale=math.sqrt(40 / 27))
    # n: variance βn/(αn − 1) · (1 + 1/κn) = (5/3)(4/3)
    want_n = norm.logpdf(0.5, 4 / 3, math.sqrt(20 / 9))
    assert log_predictive(s, post, "t")[0] == pytest.approx(want_t, rel=1e-12)
    assert log_predictive(s, post, "n")[0] == pytest.approx(want_n, rel=1e-12)


def test_empirical_bayes_prior_hand_values():
    # sides with n = 2, 2, 3, means 0, 2, 4, sample variances S/(n−1) = 1, 3, 2
    prior = fit_prior(np.array([2.0, 2.0, 3.0]), np.array([0.0, 2.0, 4.0]), np.array([1.0, 3.0, 4.0]))
    # m = 2, v = 2/3: α0 = 2 + 4/(2/3) = 8, β0 = 7·2 = 14; μ0 = 2;
    # τ² = var x̄ − mean(m/n) = 8/3 − (1 + 1 + 2/3)/3 = 16/9, κ0 = 2/(16/9) = 9/8
    assert prior.alpha == pytest.approx(8.0) and prior.beta == pytest.approx(14.0)
    assert prior.mu == pytest.approx(2.0) and prior.kappa == pytest.approx(9 / 8)


# one point, one view: IN references φ = {1, 3}, OUT references φ = {−1, −5}
REF = np.array([1.0, 3.0, -1.0, -5.0]).reshape(4, 1, 1)
KEEP = np.array([True, True, False, False]).reshape(4, 1)


def online_posteriors():
    """By hand: sides (n, x̄, s²) = (2, 2, 2) and (2, −3, 8); m = 5, v = 9 -> α0 = 43/9, β0 = 170/9;
    μ0 = −1/2, τ² = 6.25 − 2.5 = 3.75 -> κ0 = 4/3. IN: κn = 10/3, μn = 1, αn = 52/9,
    βn = 170/9 + 1 + (4/3)(2)(2.5²)/(20/3) = 170/9 + 3.5; OUT: μn = −2, βn = 170/9 + 4 + 2.5."""
    return (
        dict(mu=1.0, kappa=10 / 3, alpha=52 / 9, beta=170 / 9 + 3.5),
        dict(mu=-2.0, kappa=10 / 3, alpha=52 / 9, beta=170 / 9 + 6.5),
    )


@pytest.mark.parametrize("s", [-2.0, 0.0, 1.5])
def test_online_t_score_hand_value(s):
    def logpdf(p):
        return student_t.logpdf(
            s, 2 * p["alpha"], loc=p["mu"], scale=math.sqrt(p["beta"] * (p["kappa"] + 1) / (p["alpha"] * p["kappa"]))
        )

    p_in, p_out = online_posteriors()
    out = bavaria_scores(np.array([[s]]), REF, KEEP, variant="t")
    assert out[0] == pytest.approx(logpdf(p_in) - logpdf(p_out), rel=1e-10)


def test_online_n_score_hand_value():
    def logpdf(p):
        return norm.logpdf(0.5, p["mu"], math.sqrt(p["beta"] / (p["alpha"] - 1) * (1 + 1 / p["kappa"])))

    p_in, p_out = online_posteriors()
    out = bavaria_scores(np.array([[0.5]]), REF, KEEP, variant="n")
    assert out[0] == pytest.approx(logpdf(p_in) - logpdf(p_out), rel=1e-10)


def test_offline_in_side_is_the_prior_predictive():
    # prior from the OUT side only: one side (2, −3, 8) -> α0 = 2, β0 = 8, μ0 = −3, κ0 = 1e3 (no spread)
    # IN = prior: t(4, −3, sqrt(8·1001/(2·1000))); OUT: κn = 1002, μn = −3, αn = 3, βn = 8 + 4
    s = 0.0
    want = student_t.logpdf(s, 4, loc=-3, scale=math.sqrt(8 * 1001 / 2000)) - student_t.logpdf(
        s, 6, loc=-3, scale=math.sqrt(12 * 1003 / (3 * 1002))
    )
    assert bavaria_scores(np.array([[s]]), REF, KEEP, online=False)[0] == pytest.approx(want, rel=1e-10)


def test_views_averaged_and_no_references_is_phi():
    ref = np.repeat(REF, 2, axis=2)
    both = bavaria_scores(np.array([[0.0, 1.5]]), ref, KEEP)[0]
    one = [bavaria_scores(np.array([[v]]), REF, KEEP)[0] for v in (0.0, 1.5)]
    assert both == pytest.approx(np.mean(one), rel=1e-12)
    s = np.array([[0.5], [-1.0]])
    np.testing.assert_array_equal(bavaria_scores(s, np.zeros((0, 2, 1)), np.zeros((0, 2), bool)), [0.5, -1.0])


def test_bad_variant():
    with pytest.raises(ConfigError, match="valid: n, t"):
        bavaria(
            np.zeros((1, 1, 2), np.float32), np.array([0]), np.zeros((0, 1, 1, 2)), np.zeros((0, 1), bool), variant="x"
        )
