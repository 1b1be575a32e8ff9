"""The stackers among the candidates: a logistic regression over the recipes' per-target ranked scores
(``choose.calibration.fusion_features``).

``FUSION`` fits it plainly; ``FUSION_LOWFPR`` refits it with the rows of the low-FPR region up-weighted
(``attacks.fusion``), since only that region moves the leaderboard's TPR. Fitted out-of-fold for the
ranking (``fusion_oof``), then on every validation row for the submission (``fit_fusion``).
"""

from __future__ import annotations

import numpy as np

from toolkit.attacks.fusion import weighted_logreg
from toolkit.choose.rules import FUSION, FUSION_LOWFPR

__all__ = ["fit_fusion", "fusion_oof"]


def fit_fusion(x: np.ndarray, y: np.ndarray, seed: int = 0, stacker: str = FUSION, fpr: float = 0.1):
    """A logistic regression on the ranked scores: few parameters, so ~6,000 validation rows fit it stably.

    ``FUSION_LOWFPR`` refits it with the rows of the low-FPR region up-weighted (``attacks.fusion``).
    """
    if stacker == FUSION_LOWFPR:
        return weighted_logreg(x, y, seed, fpr=fpr)
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1.0, max_iter=1000, random_state=seed).fit(x, y)


def fusion_oof(x, y, fold_of: np.ndarray, seed: int, stacker: str, fpr: float) -> np.ndarray:
    """Out-of-fold fusion scores: each validation fold scored by a stacker fitted on the other folds."""
    out = np.empty(len(y))
    for k in np.unique(fold_of):
        rows = fold_of == k
        out[rows] = fit_fusion(x[~rows], y[~rows], seed, stacker, fpr).decision_function(x[rows])
    return out
