"""Quantile-regression attack (Bertran et al., NeurIPS 2023): fitted quantiles against known ones."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from toolkit.attacks.quantile import fit_quantile, quantile, quantile_threshold, training_rows
from toolkit.errors import ConfigError


def two_class(phi: np.ndarray) -> np.ndarray:
    """[..., 1 view, 2 classes] logits [φ, 0]: label 0 then has logit-scaled confidence exactly φ."""
    phi = np.asarray(phi, dtype=np.float32)
    return np.stack([phi, np.zeros_like(phi)], axis=-1)[..., None, :]


def with_phi(phi: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """[P, 1, 2] logits with the label's logit φ and the other 0, so that its φ is exactly φ."""
    z = np.zeros((len(labels), 1, 2), np.float32)
    z[np.arange(len(labels)), 0, labels] = phi
    return z


def test_regressor_learns_the_conditional_quantile():
    # y = 2x + label + U(0, 1): the 0.9-quantile is 2x + label + 0.9
    rng = np.random.default_rng(0)
    x, lab = rng.uniform(0, 1, 5000), rng.integers(0, 3, 5000)
    y = 2 * x + lab + rng.uniform(0, 1, 5000)
    model = fit_quantile(np.column_stack([lab, x]), y, 0.9)
    grid = np.linspace(0.1, 0.9, 9)
    for c in range(3):
        q = quantile_threshold(model, np.column_stack([np.full(9, c), grid]))
        err = np.abs(q - (2 * grid + c + 0.9))  # trees are step functions: small on average, bounded
        assert err.mean() < 0.06 and err.max() < 0.2
    assert (y <= quantile_threshold(model, np.column_stack([lab, x]))).mean() == pytest.approx(0.9, abs=0.01)


def test_duplicated_scores_give_the_exact_quantile():
    x, y = np.zeros((100, 2)), np.r_[np.zeros(80), np.ones(20)]  # 80% zeros: q_0.5 = 0, q_0.9 = 1
    assert quantile_threshold(fit_quantile(x, y, 0.5), x[:1])[0] == 0.0
    assert quantile_threshold(fit_quantile(x, y, 0.9), x[:1])[0] == 1.0


def test_training_rows_leave_the_own_reference_out():
    own = np.array([[[1.0], [2.0]], [[3.0], [4.0]], [[5.0], [9.0]]])  # [R=3, P=2, F=1]
    keep = np.array([[False, True], [True, True], [True, False]])  # OUT pairs (0, 0) and (2, 1)
    x, k, j = training_rows(own, own.sum(0), np.array([7, 8]), keep, 100, np.random.default_rng(0))
    np.testing.assert_array_equal(k, [0, 2])
    np.testing.assert_array_equal(j, [0, 1])
    np.testing.assert_allclose(x, [[7, (3 + 5) / 2], [8, (2 + 4) / 2]])


def test_identical_references_threshold_is_their_score():
    # every OUT score is φ = log 3, so q̂ = log 3 and the score is φ_target − log 3
    ref = two_class(np.full((25, 3), math.log(3)))
    out = quantile(two_class([0.0, 1.0, 2.0]), np.zeros(3, np.int64), ref, np.zeros((25, 3), bool))
    np.testing.assert_allclose(out, [-math.log(3), 1 - math.log(3), 2 - math.log(3)], atol=1e-6)


def test_single_reference_gives_a_per_class_quantile():
    # one reference, all OUT: class 0 points score φ evenly in [−½, ½], class 1 points 2 more; the
    # per-class 0.9-quantiles are 0.4 and 2.4 (np.quantile: 0.9 of the way through 30 even values)
    labels = np.repeat([0, 1], 30)
    spread = np.tile(np.linspace(-0.5, 0.5, 30), 2)
    ref = with_phi(spread + 2.0 * labels, labels)[None]
    out = quantile(with_phi(np.ones(60), labels), labels, ref, np.zeros((1, 60), bool))
    np.testing.assert_allclose(out, np.where(labels == 1, 1 - 2.4, 1 - 0.4), atol=0.05)


def test_calibration_beats_the_raw_signal_when_levels_differ_by_class():
    rng = np.random.default_rng(1)
    n_ref, n = 16, 400
    labels = np.zeros(n, np.int64)
    level = np.where(np.arange(n) % 2, 4.0, 0.0)  # half the points are easy (φ ≈ 4) whatever the membership
    keep, member = rng.random((n_ref, n)) < 0.5, rng.permutation(np.arange(n) % 2 == 0)
    ref = two_class(level + keep + rng.normal(0, 0.3, (n_ref, n)))
    target = two_class(level + member + rng.normal(0, 0.3, n))
    raw = roc_auc_score(member, level + member)
    assert roc_auc_score(member, quantile(target, labels, ref, keep)) > max(raw, 0.9)


def test_too_few_out_rows_is_the_threshold_attack_and_seeded_runs_repeat():
    target, labels = two_class([0.5, -1.0]), np.zeros(2, np.int64)
    out = quantile(target, labels, two_class(np.zeros((3, 2))), np.ones((3, 2), bool))
    np.testing.assert_allclose(out, [0.5, -1.0], rtol=1e-6)
    rng = np.random.default_rng(2)
    ref, keep = two_class(rng.normal(size=(6, 50))), rng.random((6, 50)) < 0.5
    t = two_class(rng.normal(size=50))
    np.testing.assert_array_equal(
        quantile(t, np.zeros(50, np.int64), ref, keep, seed=4), quantile(t, np.zeros(50, np.int64), ref, keep, seed=4)
    )


def test_bad_parameters():
    args = (two_class([0.0]), np.zeros(1, np.int64), two_class(np.zeros((1, 1))), np.zeros((1, 1), bool))
    for bad in ({"level": 1.0}, {"signal": "nope"}, {"max_rows": 1}):
        with pytest.raises(ConfigError):
            quantile(*args, **bad)
