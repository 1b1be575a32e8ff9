"""A stacker fitted for the low-FPR region: what MIA leaderboards rank (TPR at a small FPR).

Plain logistic regression minimises log-loss over every row, most of which lie far from the
threshold that sets TPR at 5–10% FPR. ``weighted_logreg`` fits once, finds the rows above the
non-members' (1 − fpr) quantile of that first fit (the region left of the board's FPR on the ROC),
and refits with those rows weighted ``LOW_FPR_WEIGHT``×, so that the fit spends its few parameters
where the figure is decided. Used by ``recipe = "auto"`` (MICO) and the ResNet18 task's candidates.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LOW_FPR_WEIGHT", "weighted_logreg"]

LOW_FPR_WEIGHT = 4.0


def weighted_logreg(x: np.ndarray, y: np.ndarray, seed: int = 0, *, fpr: float = 0.1):
    """Standardised logistic regression on ``x`` [n, k], ``y`` {0,1} [n], refitted with the low-FPR rows up-weighted."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def fit(weights):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000, random_state=seed))
        return model.fit(x, y, logisticregression__sample_weight=weights)

    first = fit(np.ones(len(y)))
    s = first.decision_function(x)
    cut = np.quantile(s[y == 0], 1.0 - fpr) if (y == 0).any() else np.inf
    return fit(np.where(s >= cut, LOW_FPR_WEIGHT, 1.0))
