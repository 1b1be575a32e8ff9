"""RAPID: the raw and the difficulty-calibrated score, fused (He et al., "Is Difficulty Calibration
All We Need? Towards More Practical Membership Inference Attacks", ACM CCS 2024).

Calibration (s − mean of the reference models' s) removes each point's hardness but throws away
the raw signal, which still separates members where the references are few and noisy; RAPID feeds
both to a small classifier. Here, per point x and signal s oriented so that higher = member:

    features f(x) = (s(x), s(x) − μ_ref(x)),  score = a learned function of f (higher = member)

The classifier is trained on the reference models themselves, each playing the target in turn:
reference k's features use the *other* references' mean (leave-one-out, in closed form:
(Σ_j s_j − s_k) / (R − 1)), labelled by ``keep[k]``. It is a logistic regression on the two
standardised features and their product (few parameters: stable with a few thousand rows; the paper
uses an MLP). The target's features use every reference. With fewer than 2 references there is no
leave-one-out mean to learn from: the score is the calibrated signal (one reference) or the raw one.
"""

from __future__ import annotations

import numpy as np

from toolkit.attacks.registry import SIGNAL, register
from toolkit.signals import oriented

__all__ = ["rapid", "MAX_ROWS"]

MAX_ROWS = 50_000  # training rows drawn from the references (seeded): the fit stays well under a second


def _features(raw: np.ndarray, calibrated: np.ndarray) -> np.ndarray:
    return np.column_stack([raw, calibrated, raw * calibrated])


@register("rapid", simplicity=4, needs_references=True, tuning={"signal": SIGNAL})
def rapid(target, labels, ref, keep, *, groups=None, seed=0, signal: str = "loss") -> np.ndarray:
    """RAPID's two-feature fusion of the raw and the reference-calibrated ``signal``; see the module docstring."""
    s = oriented(signal, target, labels).mean(axis=-1)
    if len(ref) == 0:
        return s
    ref_s = oriented(signal, ref, labels).mean(axis=-1)  # [R, P]
    if len(ref) == 1:
        return s - ref_s[0]
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    n_ref = len(ref_s)
    loo = (ref_s.sum(0)[None] - ref_s) / (n_ref - 1)  # each reference calibrated by the others
    x = _features(ref_s.ravel(), (ref_s - loo).ravel())
    y = np.asarray(keep, dtype=np.int64).ravel()
    if len(np.unique(y)) < 2:  # every reference IN (or OUT) everywhere: nothing to learn from
        return s - ref_s.mean(0)
    if len(y) > MAX_ROWS:
        rows = np.random.default_rng(seed).choice(len(y), MAX_ROWS, replace=False)
        x, y = x[rows], y[rows]
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000, random_state=seed))
    model.fit(x, y)
    return model.decision_function(_features(s, s - ref_s.mean(0))).astype(np.float64)
