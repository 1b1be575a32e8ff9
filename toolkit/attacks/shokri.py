"""Shadow-model classifier (Shokri, Stronati, Song, Shmatikov, IEEE S&P 2017).

The reference models play the shadows: each one's outputs on the points it was trained on are
labelled member (``keep``), the rest non-member, and a classifier learns membership from those
outputs; it is then applied to the target's outputs on the same feature map.

Features of a point (softmax averaged over query views, p ∈ Δ^C):

- ``sort=True``: the probability vector sorted descending, p_(1) ≥ p_(2) ≥ …, truncated to its
  top ``top_k`` entries (0 = all C). Sorting makes the map label-free, so one classifier serves
  every class (Shokri et al. train one per class instead; ``classifier="per_class"``).
- ``sort=False``: the raw vector in class order (what the model-size study, ``mia study scaling``, fed its classifier).
- ``true_class=True`` appends p_y, the confidence in the true label.

Classifiers: ``logreg`` = one logistic regression over all rows (standardised features, balanced
class weights because ``keep`` is rarely 50/50); ``per_class`` = one per true label y, falling back
to the global model for a class with fewer than ``min_rows`` rows or a single membership value.
The score is the classifier's log-odds (decision function), which ranks like its probability
but does not saturate at 1.

With no reference models (n_ref = 0) there is nothing to learn from: the score falls back to the
target's confidence p_y (the Yeom et al. threshold attack), so a recipe never crashes.
"""

from __future__ import annotations

import numpy as np

from toolkit.attacks.registry import BOOL, FIXED, Choice, register
from toolkit.errors import ConfigError
from toolkit.signals import log_softmax, oriented

CLASSIFIERS = ("logreg", "per_class")


def shadow_features(
    logits: np.ndarray, labels: np.ndarray, *, top_k: int = 0, sort: bool = True, true_class: bool = True
) -> np.ndarray:
    """Features [..., n_points, d] from logits [..., n_points, n_views, C] (see module docstring)."""
    p = np.exp(log_softmax(logits)).mean(axis=-2)  # [..., n_points, C]
    feats = -np.sort(-p, axis=-1) if sort else p
    if top_k > 0:
        feats = feats[..., :top_k]
    if true_class:
        idx = np.broadcast_to(labels[:, None], p.shape[:-1] + (1,))
        feats = np.concatenate([feats, np.take_along_axis(p, idx, axis=-1)], axis=-1)
    return feats


def _fit(x: np.ndarray, y: np.ndarray, seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, class_weight="balanced", random_state=seed))
    return clf.fit(x, y)


@register(
    "shokri",
    simplicity=4,
    needs_references=True,
    tuning={
        "classifier": Choice(CLASSIFIERS),
        "top_k": FIXED,
        "sort": BOOL,
        "true_class": BOOL,
        "min_rows": FIXED,
    },
)
def shokri(
    target,
    labels,
    ref,
    keep,
    *,
    groups=None,
    seed=0,
    classifier: str = "logreg",
    top_k: int = 0,
    sort: bool = True,
    true_class: bool = True,
    min_rows: int = 50,
) -> np.ndarray:
    """Shokri et al. (2017): a membership classifier trained on reference (shadow) outputs.

    Rows for training: every (reference model i, point j), features of ref[i, j], label keep[i, j].
    Rows scored: the target's features on each point. Returns log-odds [n_points], higher = member.
    """
    if classifier not in CLASSIFIERS:
        raise ConfigError(f"unknown shokri classifier {classifier!r}; valid: {', '.join(CLASSIFIERS)}")
    if len(ref) == 0 or keep.all() or not keep.any():
        # nothing to learn membership from: the confidence threshold is the documented fallback
        return oriented("confidence", target, labels).mean(axis=-1)
    opts = dict(top_k=top_k, sort=sort, true_class=true_class)
    x_ref = shadow_features(ref, labels, **opts)  # [n_ref, n_points, d]
    x_tgt = shadow_features(target, labels, **opts)  # [n_points, d]
    x_train, y_train = x_ref.reshape(-1, x_ref.shape[-1]), keep.reshape(-1)
    row_label = np.broadcast_to(labels, keep.shape).reshape(-1)
    model = _fit(x_train, y_train, seed)
    scores = model.decision_function(x_tgt)
    if classifier == "per_class":
        for c in np.unique(labels):
            rows = row_label == c
            yc = y_train[rows]
            if rows.sum() < min_rows or yc.all() or not yc.any():
                continue  # too few rows for its own model: keep the global model's scores
            scores[labels == c] = _fit(x_train[rows], yc, seed).decision_function(x_tgt[labels == c])
    return scores.astype(np.float64)
