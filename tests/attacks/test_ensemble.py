"""Feature ensemble: features by hand, training only on references / a labelled set, fallbacks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from test_attack_contract import synthetic

from toolkit.attacks.ensemble import ensemble
from toolkit.attacks.features import BASE_FEATURES, output_features
from toolkit.errors import ConfigError
from toolkit.signals import loss

FAST = dict(n_estimators=30, max_depth=4)


def test_output_features_by_hand():
    z = np.array([[[0.0, 0.0, math.log(2.0)]]])  # p = [1/4, 1/4, 1/2], label 0
    x, names = output_features(z, np.array([0]), top_k=2)
    assert names == ["p_sorted_0", "p_sorted_1", *BASE_FEATURES] and x.shape == (1, len(names))
    row = dict(zip(names, x[0]))
    assert row["p_sorted_0"] == pytest.approx(0.5) and row["p_sorted_1"] == pytest.approx(0.25)
    assert row["loss"] == pytest.approx(math.log(4)) and row["top2_margin"] == pytest.approx(0.25)
    assert row["correct"] == 0.0 and row["grad_proxy"] == pytest.approx(0.75)
    assert row["max_logit"] == pytest.approx(math.log(2)) and row["true_logit"] == 0.0
    assert row["phi"] == pytest.approx(-math.log(3))


@pytest.mark.parametrize("model", ["rf", "mlp", "stack"])
def test_each_model_learns_from_references(model):
    target, labels, ref, keep, groups, membership = synthetic(0, n_ref=6, n_points=200)
    scores = ensemble(target, labels, ref, keep, groups=groups, model=model, **FAST)
    assert np.isfinite(scores).all() and roc_auc_score(membership, scores) > 0.7


def test_target_rows_never_train_the_classifier():
    target, labels, ref, keep, groups, _ = synthetic(0, n_ref=4, n_points=120)
    a = ensemble(target, labels, ref, keep, groups=groups, calibrated=False, **FAST)
    changed = target.copy()
    changed[0] += 5.0
    b = ensemble(changed, labels, ref, keep, groups=groups, calibrated=False, **FAST)
    np.testing.assert_array_equal(a[1:], b[1:])


def test_fewer_than_two_references_fall_back_to_loss_threshold():
    target, labels, ref, keep, groups, _ = synthetic(0, n_ref=1, n_points=60)
    np.testing.assert_allclose(ensemble(target, labels, ref, keep), -loss(target, labels).mean(-1))


def test_labelled_training_set_of_the_target():
    target, labels, _, _, _, membership = synthetic(0, n_ref=1, n_points=400)
    half = slice(0, 200), slice(200, 400)
    scores = ensemble(
        target[half[1]],
        labels[half[1]],
        np.zeros((0, 200, 2, 5), np.float32),
        np.zeros((0, 200), bool),
        train_logits=target[half[0]],
        train_labels=labels[half[0]],
        train_membership=membership[half[0]],
        **FAST,
    )
    assert roc_auc_score(membership[half[1]], scores) > 0.7
    with pytest.raises(ConfigError):
        ensemble(target, labels, np.zeros((0, 400, 2, 5)), np.zeros((0, 400), bool), train_logits=target)


def test_unknown_model_is_a_config_error():
    target, labels, ref, keep, groups, _ = synthetic(0, n_ref=2, n_points=20)
    with pytest.raises(ConfigError, match="valid: rf, lgbm, mlp, stack"):
        ensemble(target, labels, ref, keep, model="svm")
