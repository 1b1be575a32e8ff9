"""Hardness calibration (MICO winner): hand fixtures for the three formulas and the fallbacks."""

from __future__ import annotations

import numpy as np
import pytest

from toolkit.attacks.hardness import calibrate, hardness
from toolkit.errors import ConfigError
from toolkit.signals import loss

S = np.array([1.0, 5.0, 7.0])
# point 0: IN {0}, OUT {2}; point 1: IN {1, 3}, no OUT; point 2: no IN, OUT {2, 6}
REF = np.array([[0.0, 1.0, 2.0], [2.0, 3.0, 6.0]])
KEEP = np.array([[True, True, False], [False, True, False]])


def test_in_formula_and_no_in_fallback():
    # μ_in = [0, 2, μ_out = 4]
    np.testing.assert_allclose(calibrate(S, REF, KEEP, "in"), [1.0, 3.0, 3.0])


def test_mid_formula_and_no_out_fallback():
    # μ_out = [2, μ_in = 2, 4]; mid = [1, 2, 4]
    np.testing.assert_allclose(calibrate(S, REF, KEEP, "mid"), [0.0, 3.0, 3.0])


def test_z_formula():
    # μ_all = [1, 2, 4], σ_all (ddof 0) = [1, 1, 2]
    np.testing.assert_allclose(calibrate(S, REF, KEEP, "z"), [0.0, 3.0, 1.5])


def test_no_references_and_unknown_formula():
    empty = np.zeros((0, 3))
    for f in ("in", "mid", "z"):
        np.testing.assert_allclose(calibrate(S, empty, np.zeros((0, 3), bool), f), S)
    with pytest.raises(ConfigError):
        calibrate(S, REF, KEEP, "median")


def test_hardness_on_loss_is_oriented():
    z = np.array([[[0.0, 2.0]], [[0.0, 0.5]]], dtype=np.float32)  # [P=2, V=1, C=2]
    labels = np.array([1, 1])
    ref = np.stack([z, z])
    keep = np.array([[True, True], [False, False]])
    out = hardness(z, labels, ref, keep)
    np.testing.assert_allclose(out, 0.0, atol=1e-12)  # target equals the IN reference
    lower_loss = hardness(z * 2, labels, ref, keep)
    assert (lower_loss > 0).all()  # lower loss than the IN mean -> higher score
    np.testing.assert_allclose(lower_loss, loss(z, labels)[:, 0] - loss(z * 2, labels)[:, 0])
