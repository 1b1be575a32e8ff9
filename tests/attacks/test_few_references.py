"""Scores made for few references: the gap-weighted midpoint, class-pooled statistics and RAPID, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from toolkit.attacks.hardness import calibrate, hardness
from toolkit.attacks.lira import lira
from toolkit.attacks.rapid import rapid
from toolkit.attacks.reference_stats import pooled_mean, shrink_to_class
from toolkit.attacks.variants import VARIANTS
from toolkit.errors import ConfigError
from toolkit.signals import loss

S = np.array([1.0, 5.0, 7.0])
# point 0: IN {0}, OUT {2}; point 1: IN {1, 3}, no OUT; point 2: no IN, OUT {2, 6}
REF = np.array([[0.0, 1.0, 2.0], [2.0, 3.0, 6.0]])
KEEP = np.array([[True, True, False], [False, True, False]])


def test_gap_formula_and_its_fallbacks_by_hand():
    # point 0: μ_in 0, μ_out 2: (0 − 2)(1 − 1) = 0. The median gap of the points with both sides is −2:
    # point 1: μ_in 2, μ_out = 2 + 2 = 4: (2 − 4)(5 − 3) = −4; point 2: μ_out 4, μ_in = 2: (2 − 4)(7 − 3) = −8
    np.testing.assert_allclose(calibrate(S, REF, KEEP, "gap"), [0.0, -4.0, -8.0])
    # no references: the midpoint of nothing is 0 and the gap 1, so the signal itself
    np.testing.assert_allclose(calibrate(S, np.zeros((0, 3)), np.zeros((0, 3), bool), "gap"), S)


def test_shrink_to_class_by_hand():
    stat = np.array([1.0, 3.0, np.nan, 10.0])
    count = np.array([2, 2, 0, 1])
    labels = np.array([0, 0, 0, 1])
    # class 0: (2·1 + 2·3) / 4 = 2; class 1: 10. With k = 4: (n·s + 4·class) / (n + 4)
    np.testing.assert_allclose(shrink_to_class(stat, count, labels, 4.0), [10 / 6, 14 / 6, 2.0, 10.0])
    # a class with no sample at all keeps NaN (the caller's fallback decides)
    out = shrink_to_class(np.array([np.nan, 5.0]), np.array([0, 3]), np.array([0, 1]), 4.0)
    assert np.isnan(out[0]) and out[1] == 5.0


def test_pooled_mean_and_hardness_pool():
    labels = np.array([0, 0, 1])
    # OUT means: point 0 → 2 (n 1), point 1 → none, point 2 → 4 (n 2); class 0's OUT mean is 2
    np.testing.assert_allclose(pooled_mean(REF, ~KEEP, labels, "class"), [2.0, 2.0, 4.0])
    np.testing.assert_allclose(pooled_mean(REF, ~KEEP, labels, "none")[[0, 2]], [2.0, 4.0])
    # point 1 now has an OUT mean of its own (its class's), so "mid" uses it: 5 − (μ_in + μ_out)/2
    pooled = calibrate(S, REF, KEEP, "mid", "class", labels)
    # μ_in: point 0 (n 1, 0), point 1 (n 2, 2); class 0 mean (0 + 4)/3 = 4/3: point 1 → (4 + 16/3)/6 = 14/9
    assert pooled[1] == pytest.approx(5.0 - (14 / 9 + 2.0) / 2)
    with pytest.raises(ConfigError, match="valid: none, class"):
        hardness(np.zeros((3, 1, 2), np.float32), labels, np.zeros((0, 3, 1, 2), np.float32), KEEP[:0], pool="knn")


def _members_lower_loss(rng, n_ref=8, n=400, classes=4):
    labels = rng.integers(0, classes, n)
    keep = rng.random((n_ref + 1, n)) < 0.5
    hard = rng.normal(0, 1.5, n)  # per-point difficulty shared by every model
    logits = rng.normal(0, 0.3, (n_ref + 1, n, 1, classes)).astype(np.float32)
    logits[np.arange(n_ref + 1)[:, None], np.arange(n)[None], 0, labels[None]] += hard + 1.5 * keep
    return logits[0], labels, logits[1:], keep[1:], keep[0]


def test_lira_pool_is_oriented_and_changes_nothing_when_each_class_has_one_point():
    rng = np.random.default_rng(0)
    target, labels, ref, keep, member = _members_lower_loss(rng)
    s = lira(target, labels, ref, keep, pool="class")
    assert np.isfinite(s).all() and s[member].mean() > s[~member].mean()
    target, _, ref, keep, _ = _members_lower_loss(rng, n=6, classes=6)
    own = np.arange(6)  # one point per class: the class's value is the point's own
    np.testing.assert_allclose(lira(target, own, ref, keep, pool="class"), lira(target, own, ref, keep))


def test_rapid_orientation_determinism_and_fallbacks():
    rng = np.random.default_rng(1)
    target, labels, ref, keep, member = _members_lower_loss(rng)
    s = rapid(target, labels, ref, keep, seed=3)
    assert np.isfinite(s).all() and s[member].mean() > s[~member].mean()
    np.testing.assert_array_equal(s, rapid(target, labels, ref, keep, seed=3))
    raw = -loss(target, labels).mean(-1)
    np.testing.assert_allclose(rapid(target, labels, ref[:0], keep[:0]), raw)  # no reference: −loss
    one = -loss(ref[:1], labels).mean(-1)[0]
    np.testing.assert_allclose(rapid(target, labels, ref[:1], keep[:1]), raw - one)  # one: calibrated


def test_auto_weighs_the_new_scores():
    assert {"formula": "gap"} in VARIANTS["hardness"] and {"formula": "mid", "pool": "class"} in VARIANTS["hardness"]
    assert {"pool": "class"} in VARIANTS["lira"] and VARIANTS["rapid"] == [{}]
