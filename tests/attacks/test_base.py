"""BASE (Lassila et al., NeurIPS 2025): hand-computed fixtures for the online and offline scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from toolkit.attacks.base import base, log_true_class_prob
from toolkit.errors import ConfigError


def two_class(p: float, temperature: float = 2.0) -> list[float]:
    """Logits [z0, 0] whose tempered softmax gives class 0 the probability p."""
    return [temperature * math.log(p / (1 - p)), 0.0]


# one point, label 0, one view; tempered (T = 2) p_y: target 3/4, references 1/2 and 7/8
TARGET = np.array([[two_class(0.75)]], dtype=np.float32)
REF = np.array([[[two_class(0.5)]], [[two_class(0.875)]]], dtype=np.float32)
LABELS = np.array([0])


def test_online_hand_value():
    # log(3/4) − log((1/2 + 7/8)/2) = log(3/4) − log(11/16) = log(12/11)
    out = base(TARGET, LABELS, REF, np.array([[True], [False]]))
    assert out[0] == pytest.approx(math.log(12 / 11), rel=1e-6)


def test_offline_uses_out_references_scaled_by_a():
    # reference 0 (p = 1/2) is OUT: log(3/4) − 0.33 · log(1/2)
    keep = np.array([[False], [True]])
    out = base(TARGET, LABELS, REF, keep, online=False)
    assert out[0] == pytest.approx(math.log(0.75) - 0.33 * math.log(0.5), rel=1e-6)
    out = base(TARGET, LABELS, REF, keep, online=False, offline_scale=1.0)
    assert out[0] == pytest.approx(math.log(1.5), rel=1e-6)


def test_default_temperature_is_two():
    # at T = 1 the same logits give p = 9/10, 1/2 and 49/50: log(9/10) − log((1/2 + 49/50)/2)
    keep = np.array([[True], [False]])
    t1 = base(TARGET, LABELS, REF, keep, temperature=1.0)[0]
    assert t1 == pytest.approx(math.log(0.9) - math.log((0.5 + 0.98) / 2), rel=1e-6)
    assert base(TARGET, LABELS, REF, keep)[0] != pytest.approx(t1)


def test_offline_point_without_out_reference_uses_all():
    out = base(TARGET, LABELS, REF, np.array([[True], [True]]), online=False)
    assert out[0] == pytest.approx(math.log(0.75) - 0.33 * math.log(11 / 16), rel=1e-6)


def test_no_references_is_log_confidence():
    out = base(TARGET, LABELS, np.zeros((0, 1, 1, 2), np.float32), np.zeros((0, 1), bool))
    assert out[0] == pytest.approx(math.log(0.75), rel=1e-6)


def test_views_averaged_in_probability_space():
    z = np.array([[two_class(0.75), two_class(0.5)]])  # one point, two views
    assert log_true_class_prob(z, LABELS)[0] == pytest.approx(math.log(0.625), rel=1e-6)


def test_saturated_logits_stay_finite():
    target = np.array([[[3000.0, 0.0]], [[0.0, 3000.0]]], dtype=np.float32)
    ref = np.stack([target, target[::-1]])
    for online in (True, False):
        out = base(target, np.array([0, 0]), ref, np.array([[True, False], [False, True]]), online=online)
        assert np.isfinite(out).all()


def test_bad_parameters():
    with pytest.raises(ConfigError):
        base(TARGET, LABELS, REF, np.ones((2, 1), bool), temperature=0.0)
