"""LiRA (Carlini et al. 2022): hand-computed fixtures for every variant and fallback."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from toolkit.attacks.lira import lira, lira_scores, masked_median, masked_var, pooled_sigma

# one point, two views identical; IN refs {1, 3} (median 2, var 2), OUT refs {-1, -3} (median -2, var 2)
REF = np.array([1.0, 3.0, -1.0, -3.0]).reshape(4, 1, 1)
KEEP = np.array([True, True, False, False]).reshape(4, 1)


@pytest.mark.parametrize("fix_variance", [True, False])
def test_online_midpoint_between_symmetric_gaussians_is_zero(fix_variance):
    assert lira_scores(np.zeros((1, 1)), REF, KEEP, fix_variance=fix_variance)[0] == 0.0


def test_online_hand_value():
    # log N(1; 2, 2) − log N(1; −2, 2) = −1/4 + 9/4 = 2
    assert lira_scores(np.ones((1, 1)), REF, KEEP)[0] == pytest.approx(2.0, abs=1e-12)


def test_offline_one_and_two_sided_hand_values():
    one = lira_scores(np.ones((1, 1)), REF, KEEP, online=False)[0]
    assert one == pytest.approx(math.log(norm.cdf(3 / math.sqrt(2))), rel=1e-12)
    two = lira_scores(np.ones((1, 1)), REF, KEEP, online=False, two_sided=True)[0]
    assert two == pytest.approx(0.5 * 9 / 2 + math.log(math.sqrt(2)) + 0.5 * math.log(2 * math.pi), rel=1e-12)


def test_pooled_residual_sigma_not_raw_pooled_std():
    values = np.array([[0.0, 0.0, 5.0], [2.0, 0.0, 5.0], [np.nan, 3.0, np.nan]])
    mask = ~np.isnan(values)
    var = masked_var(np.nan_to_num(values), mask)
    np.testing.assert_allclose(var, [2.0, 3.0, 0.0])  # ddof = 1 per point
    assert pooled_sigma(var) == pytest.approx(math.sqrt(5 / 3))
    assert pooled_sigma(var) != pytest.approx(np.nanstd(values))  # raw std mixes point means (≈2.06)


def test_pooled_sigma_without_any_pair_is_nan_and_scores_stay_finite():
    assert math.isnan(pooled_sigma(np.array([np.nan, np.nan])))
    ref = np.array([1.0, -1.0]).reshape(2, 1, 1)
    out = lira_scores(np.zeros((1, 1)), ref, np.array([[True], [False]]))
    assert np.isfinite(out).all()


def test_views_are_averaged():
    ref = np.repeat(REF, 2, axis=2)
    s = np.array([[1.0, 0.0]])
    assert lira_scores(s, ref, KEEP)[0] == pytest.approx(1.0)


def test_missing_out_side_uses_median_gap():
    # point 0: IN {1, 3}, OUT {−1, −3} (gap Δ = 4); point 1: IN {5, 7, 5, 7} only (median 6, var 4/3)
    ref = np.array([[1.0, 5.0], [3.0, 7.0], [-1.0, 5.0], [-3.0, 7.0]])[..., None]
    keep = np.array([[True, True], [True, True], [False, True], [False, True]])
    out = lira_scores(np.array([[0.0], [4.0]]), ref, keep)
    sd_in, sd_out = math.sqrt((2 + 4 / 3) / 2), math.sqrt(2)  # pooled over points with >= 2 values
    want1 = norm.logpdf(4, 6, sd_in) - norm.logpdf(4, 6 - 4, sd_out)
    want0 = norm.logpdf(0, 2, sd_in) - norm.logpdf(0, -2, sd_out)
    np.testing.assert_allclose(out, [want0, want1], rtol=1e-12)


def test_missing_in_side_uses_median_gap():
    ref = np.array([[1.0, -5.0], [3.0, -7.0], [-1.0, -5.0], [-3.0, -7.0]])[..., None]
    keep = np.array([[True, False], [True, False], [False, False], [False, False]])
    out = lira_scores(np.array([[-4.0]] * 2), ref, keep, online=False, two_sided=True)
    sd_out = math.sqrt((2 + 4 / 3) / 2)
    np.testing.assert_allclose(out, [-norm.logpdf(-4, -2, sd_out), -norm.logpdf(-4, -6, sd_out)], rtol=1e-12)
    online = lira_scores(np.array([[0.0], [-4.0]]), ref, keep)
    want = norm.logpdf(-4, -6 + 4, math.sqrt(2)) - norm.logpdf(-4, -6, sd_out)
    assert online[1] == pytest.approx(want, rel=1e-12)


def test_no_references_returns_phi_and_one_sided_refs_give_z_score():
    s = np.array([[0.5], [-1.0]])
    np.testing.assert_array_equal(lira_scores(s, np.zeros((0, 2, 1)), np.zeros((0, 2), bool)), [0.5, -1.0])
    ref = np.array([[1.0, 0.0], [3.0, 2.0]])[..., None]  # all IN: no gap anywhere
    out = lira_scores(s, ref, np.ones((2, 2), bool))
    sd = math.sqrt(2.0)  # pooled var of {1,3} and {0,2} = 2
    np.testing.assert_allclose(out, [(0.5 - 2) / sd, (-1.0 - 1) / sd])


def test_masked_median_matches_numpy():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(7, 50, 2))
    m = rng.random((7, 50, 1)) < 0.6
    want = np.nanmedian(np.where(m, v, np.nan), axis=0)
    np.testing.assert_allclose(masked_median(v, m), want)


def test_lira_on_huge_logits_is_finite():
    target = np.array([[[1000.0, 0.0, 0.0]], [[0.0, 1000.0, 0.0]]], dtype=np.float32)
    ref = np.stack([target, target[::-1], target, target[::-1]])
    keep = np.array([[True, False], [False, True], [True, True], [False, False]])
    for online in (True, False):
        out = lira(target, np.array([0, 0]), ref, keep, online=online, fix_variance=False)
        assert np.isfinite(out).all()
