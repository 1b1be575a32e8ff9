import math

import numpy as np
import pytest

from toolkit.errors import FormatError
from toolkit.metrics import bootstrap_ci, epsilon_lower_bound, roc, scorer_metrics, tpr_at_fpr


def test_strict_versus_inclusive_rule():
    # 10 negatives, 4 positives. Scores sorted: one negative sits above two positives.
    y = np.array([1, 1, 0, 1, 1] + [0] * 9)
    s = np.array([0.9, 0.8, 0.7, 0.6, 0.5] + [0.1] * 9)
    fpr, tpr = roc(y, s)
    # FPR reaches exactly 0.1 (1 of 10 negatives) at TPR 1.0
    assert tpr_at_fpr(fpr, tpr, 0.1, strict=True) == pytest.approx(0.5)
    assert tpr_at_fpr(fpr, tpr, 0.1, strict=False) == pytest.approx(1.0)
    assert tpr_at_fpr(fpr, tpr, 0.001) == pytest.approx(0.5)
    assert tpr_at_fpr(fpr, tpr, 0.0) == 0.0  # nothing is strictly below 0


def test_ties_form_one_roc_point():
    y = np.array([1, 0, 1, 0])
    s = np.array([0.5, 0.5, 0.2, 0.1])
    m = scorer_metrics(y, s)
    # the tie lifts TPR and FPR together: no threshold has TPR 0.5 at FPR 0
    assert m["TPR_FPR_1000"] == 0.0
    # positives {0.5, 0.2} vs negatives {0.5, 0.1}: (½ + 1 + 0 + 1)/4
    assert m["AUC"] == pytest.approx(0.625)


def test_scorer_metrics_hand_computed():
    y = np.array([1, 1, 0, 0])
    s = np.array([0.9, 0.4, 0.6, 0.1])
    m = scorer_metrics(y, s)
    assert m["AUC"] == pytest.approx(0.75)
    assert m["MIA"] == pytest.approx(0.5)
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["TPR_FPR_1000"] == pytest.approx(0.5)
    assert m["TPR_FPR_2000"] == pytest.approx(0.5)
    assert set(m) == {
        "TPR_FPR_10",
        "TPR_FPR_100",
        "TPR_FPR_500",
        "TPR_FPR_1000",
        "TPR_FPR_1500",
        "TPR_FPR_2000",
        "AUC",
        "MIA",
        "accuracy",
    }


def test_bad_scores_are_refused():
    with pytest.raises(FormatError, match="NaN"):
        scorer_metrics(np.array([1, 0]), np.array([np.nan, 0.1]))
    with pytest.raises(FormatError, match="both"):
        scorer_metrics(np.array([1, 1]), np.array([0.2, 0.1]))


def test_epsilon_lower_bound_matches_spec_example():
    point, confident = epsilon_lower_bound(0.30, 0.10, 5000, 5000, delta=0.0)
    assert point == pytest.approx(math.log(3), abs=1e-9)
    assert 0.9 < confident < point
    assert confident == pytest.approx(0.97, abs=0.03)


def test_bootstrap_ci_brackets_estimate():
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(200), np.zeros(200)].astype(int)
    s = y + rng.normal(0, 1, 400)
    est, lo, hi = bootstrap_ci(y, s, lambda a, b: scorer_metrics(a, b)["AUC"], n_boot=200)
    assert lo < est < hi and hi - lo < 0.2
    g = np.repeat(np.arange(8), 50)
    est2, lo2, hi2 = bootstrap_ci(y, s, lambda a, b: scorer_metrics(a, b)["AUC"], groups=g, n_boot=200)
    assert est2 == est and lo2 <= est <= hi2
