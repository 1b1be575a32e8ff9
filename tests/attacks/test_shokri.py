import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from toolkit.attacks import attack_names, attack_params, run_attack
from toolkit.attacks.shokri import shadow_features
from toolkit.errors import ConfigError


def _logits(member, labels, rng, n_classes=5, boost=2.0):
    """Random logits where members get ``boost`` added to their true-class logit."""
    z = rng.normal(0, 1, (len(labels), 1, n_classes))
    z[np.arange(len(labels)), 0, labels] += 1.0 + boost * member
    return z.astype(np.float32)


def _fixture(n=400, n_ref=4, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 5, n)
    keep = rng.random((n_ref, n)) < 0.5
    ref = np.stack([_logits(k, labels, rng) for k in keep])
    member = rng.random(n) < 0.5
    return _logits(member, labels, rng), labels, ref, keep, member


def test_registered_with_params():
    assert "shokri" in attack_names()
    assert attack_params("shokri")["classifier"] == "logreg"


def test_features_sorted_topk_and_true_class():
    z = np.log(np.array([[[0.1, 0.6, 0.3]]]))  # one point, one view
    f = shadow_features(z, np.array([2]), top_k=2)
    np.testing.assert_allclose(f, [[0.6, 0.3, 0.3]])
    raw = shadow_features(z, np.array([0]), sort=False, true_class=False)
    np.testing.assert_allclose(raw, [[0.1, 0.6, 0.3]])


@pytest.mark.parametrize("classifier", ["logreg", "per_class"])
def test_orients_members_higher(classifier):
    target, labels, ref, keep, member = _fixture()
    s = run_attack("shokri", target, labels, ref, keep, classifier=classifier, min_rows=20)
    assert roc_auc_score(member, s) > 0.7


def test_deterministic_under_seed():
    target, labels, ref, keep, _ = _fixture()
    a = run_attack("shokri", target, labels, ref, keep, seed=3, classifier="per_class")
    b = run_attack("shokri", target, labels, ref, keep, seed=3, classifier="per_class")
    np.testing.assert_array_equal(a, b)


def test_no_references_falls_back_to_confidence():
    target, labels, _, _, member = _fixture()
    s = run_attack(
        "shokri", target, labels, np.zeros((0,) + target.shape, np.float32), np.zeros((0, len(labels)), bool)
    )
    p = np.exp(target[:, 0]) / np.exp(target[:, 0]).sum(-1, keepdims=True)
    np.testing.assert_allclose(s, p[np.arange(len(labels)), labels], rtol=1e-6)


def test_unknown_classifier_lists_valid():
    target, labels, ref, keep, _ = _fixture(n=40)
    with pytest.raises(ConfigError, match="per_class"):
        run_attack("shokri", target, labels, ref, keep, classifier="forest")
