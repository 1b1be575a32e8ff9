"""Per-example signals (toolkit/signals.py) against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from toolkit import signals

# softmax([0, 0, log 2]) = [1/4, 1/4, 1/2]
Z = np.array([[[0.0, 0.0, math.log(2.0)]], [[0.0, 0.0, math.log(2.0)]]])  # [P=2, V=1, C=3]
Y = np.array([2, 0])


def test_loss_confidence_phi_margin_by_hand():
    np.testing.assert_allclose(signals.loss(Z, Y)[:, 0], [math.log(2), math.log(4)])
    np.testing.assert_allclose(signals.confidence(Z, Y)[:, 0], [0.5, 0.25])
    np.testing.assert_allclose(signals.phi(Z, Y)[:, 0], [0.0, -math.log(3)], atol=1e-15)
    np.testing.assert_allclose(signals.margin(Z, Y)[:, 0], [math.log(2), -math.log(2)])


def test_entropy_and_modified_entropy_by_hand():
    np.testing.assert_allclose(signals.entropy(Z)[:, 0], 1.5 * math.log(2))
    # −(1 − p_y) log p_y − Σ_{i≠y} p_i log(1 − p_i)
    me0 = -0.5 * math.log(0.5) - 2 * 0.25 * math.log(0.75)
    me1 = -0.75 * math.log(0.25) - 0.25 * math.log(0.75) - 0.5 * math.log(0.5)
    np.testing.assert_allclose(signals.modified_entropy(Z, Y)[:, 0], [me0, me1])


def test_phi_is_exact_for_huge_logits():
    z = np.array([[[1000.0, 0.0, 0.0]], [[1000.0, 0.0, 0.0]]])
    y = np.array([0, 1])
    out = signals.phi(z, y)[:, 0]
    assert out[0] == pytest.approx(1000.0 - math.log(2.0), abs=1e-12)  # p_y rounds to 1: no epsilon needed
    assert out[1] == pytest.approx(-1000.0, abs=1e-12)
    for name in signals.SIGNALS:
        assert np.isfinite(signals.signal(name, z, y)).all(), name


def test_leading_model_axis_and_orientation():
    z = np.stack([Z, Z * 3])  # [M=2, P=2, V=1, C=3]
    assert signals.loss(z, Y).shape == (2, 2, 1)
    for name, sign in signals.MEMBER_SIGN.items():
        np.testing.assert_allclose(signals.oriented(name, z, Y), sign * signals.signal(name, z, Y))
    # a more confident true class is "more member" for every oriented signal except entropy (label-free)
    lo = np.array([[[0.0, 0.0, 1.0]]])
    hi = np.array([[[0.0, 0.0, 4.0]]])
    for name in signals.SIGNALS:
        assert signals.oriented(name, hi, np.array([2]))[0, 0] > signals.oriented(name, lo, np.array([2]))[0, 0], name
