"""RMIA (Zarifzadeh, Liu, Shokri 2024): hand fixtures for Pr(x), the pairwise quantile, rmia()."""

from __future__ import annotations

import math

import numpy as np
import pytest

from toolkit.attacks.rmia import pairwise_quantile, reference_prob, rmia, true_class_prob
from toolkit.errors import ConfigError


def test_offline_pr_x_hand_value():
    ref_p = np.array([[0.2, 0.9], [0.4, 0.5], [0.9, 0.7]])
    keep = np.array([[False, True], [False, False], [True, True]])
    # point 0: P_OUT = 0.3 -> ½[(1.3)(0.3) + 0.7] = 0.545; point 1: P_OUT = 0.5 -> ½[0.65 + 0.7] = 0.675
    np.testing.assert_allclose(reference_prob(ref_p, keep, offline=True, a=0.3), [0.545, 0.675])
    np.testing.assert_allclose(reference_prob(ref_p, keep, offline=False), [0.5, 0.7])


def test_offline_pr_x_without_out_reference_falls_back_to_all():
    ref_p = np.array([[0.2], [0.6]])
    np.testing.assert_allclose(reference_prob(ref_p, np.ones((2, 1), bool)), [0.4])
    np.testing.assert_allclose(reference_prob(np.zeros((0, 3)), np.zeros((0, 3), bool)), [1, 1, 1])


def test_pairwise_quantile_hand_values():
    # γ = e: z counts when log r(z) <= log r(x) − 1; counts 0,1,2,3; ties broken by rank/n
    out = pairwise_quantile(np.array([0.0, 1.0, 2.0, 3.0]), np.zeros(4, int), math.e)
    np.testing.assert_allclose(out, [0 / 5, 1.25 / 5, 2.5 / 5, 3.75 / 5])


def test_pairwise_quantile_matches_brute_force_per_group():
    rng = np.random.default_rng(0)
    lr = rng.normal(size=60)
    groups = rng.integers(0, 3, 60)
    out = pairwise_quantile(lr, groups, 2.0)
    for g in range(3):
        rows = np.flatnonzero(groups == g)
        r = np.exp(lr[rows])
        count = (r[:, None] / r[None, :] >= 2.0).sum(1)
        rank = np.argsort(np.argsort(lr[rows]))
        np.testing.assert_allclose(out[rows], (count + rank / len(rows)) / (len(rows) + 1))
    assert out.min() >= 0 and out.max() < 1


def test_true_class_prob_tempered_and_view_averaged():
    z = np.array([[[0.0, math.log(3.0)], [0.0, 0.0]]])  # one point, two views
    assert true_class_prob(z, np.array([1]))[0] == pytest.approx((0.75 + 0.5) / 2)
    assert true_class_prob(z[:, :1], np.array([1]), temperature=2.0)[0] == pytest.approx(
        math.sqrt(3) / (1 + math.sqrt(3))
    )


def test_rmia_ranks_like_ratio_within_one_target():
    rng = np.random.default_rng(1)
    target = rng.normal(size=(50, 1, 4)).astype(np.float32)
    ref = rng.normal(size=(3, 50, 1, 4)).astype(np.float32)
    keep = rng.random((3, 50)) < 0.5
    labels = rng.integers(0, 4, 50)
    scores = rmia(target, labels, ref, keep, gamma=1.0)
    p = true_class_prob(target, labels)
    ratio = p / reference_prob(true_class_prob(ref, labels), keep)
    np.testing.assert_array_equal(np.argsort(scores), np.argsort(ratio))


def test_rmia_rejects_bad_parameters():
    with pytest.raises(ConfigError):
        rmia(np.zeros((2, 1, 2), np.float32), np.array([0, 1]), np.zeros((0, 2, 1, 2)), np.zeros((0, 2), bool), a=1.5)
