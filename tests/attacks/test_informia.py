"""InfoRMIA (Tao & Shokri, ICLR 2026): hand-computed information gains and population correction."""

from __future__ import annotations

import math

import numpy as np
import pytest

from toolkit.attacks.informia import informia, population_correction
from toolkit.attacks.rmia import rmia
from toolkit.errors import ConfigError


def logits_for(p: list[float]) -> np.ndarray:
    """[P, 1 view, 2 classes] logits whose softmax gives class 0 the probabilities p."""
    return np.array([[[math.log(q / (1 - q)), 0.0]] for q in p], dtype=np.float64)


LABELS = np.zeros(3, dtype=np.int64)
TARGET = logits_for([0.8, 0.5, 0.2])
REF = np.stack([logits_for([0.4, 0.5, 0.4]), logits_for([0.6, 0.5, 0.2])])
KEEP = np.array([[True, False, False], [False, False, True]])


def test_online_hand_value():
    # Pr(x) = [0.5, 0.5, 0.3], r = [1.6, 1.0, 2/3]; correction Σ Pr(z) log2 r(z) / Σ Pr(z)
    r, pr = [1.6, 1.0, 2 / 3], [0.5, 0.5, 0.3]
    corr = sum(w * math.log2(v) for w, v in zip(pr, r)) / sum(pr)
    out = informia(TARGET, LABELS, REF, KEEP, offline=False)
    np.testing.assert_allclose(out, [math.log2(v) - corr for v in r], rtol=1e-10)


def test_offline_hand_value():
    # P_OUT = [0.6, 0.5, 0.4] -> Pr(x) = ½[1.3 P_OUT + 0.7] = [0.74, 0.675, 0.61]
    pr = [0.5 * (1.3 * q + 0.7) for q in (0.6, 0.5, 0.4)]
    r = [p / q for p, q in zip([0.8, 0.5, 0.2], pr)]
    corr = sum(w * math.log2(v) for w, v in zip(pr, r)) / sum(pr)
    out = informia(TARGET, LABELS, REF, KEEP)
    np.testing.assert_allclose(out, [math.log2(v) - corr for v in r], rtol=1e-10)


def test_correction_is_per_target_group():
    # group 0 = points 0, 1; group 1 = point 2 alone (its own population: score 0)
    groups = np.array([0, 0, 1])
    out = informia(TARGET, LABELS, REF, KEEP, offline=False, groups=groups)
    corr0 = (0.5 * math.log2(1.6) + 0.5 * math.log2(1.0)) / 1.0
    np.testing.assert_allclose(out, [math.log2(1.6) - corr0, -corr0, 0.0], atol=1e-12)
    np.testing.assert_allclose(
        population_correction(np.array([1.0, 3.0, 5.0]), np.array([1.0, 3.0, 2.0]), np.array([7, 7, 9])),
        [2.5, 2.5, 5.0],
    )


def test_ranks_like_rmia_with_gamma_one_within_a_target():
    rng = np.random.default_rng(0)
    target = rng.normal(size=(40, 1, 4)).astype(np.float32)
    ref = rng.normal(size=(3, 40, 1, 4)).astype(np.float32)
    keep, labels = rng.random((3, 40)) < 0.5, rng.integers(0, 4, 40)
    a, b = informia(target, labels, ref, keep), rmia(target, labels, ref, keep, gamma=1.0)
    np.testing.assert_array_equal(np.argsort(a, kind="stable"), np.argsort(b, kind="stable"))


def test_bad_parameters():
    with pytest.raises(ConfigError):
        informia(TARGET, LABELS, REF, KEEP, a=2.0)
    with pytest.raises(ConfigError):
        informia(TARGET, LABELS, REF, KEEP, temperature=0.0)
