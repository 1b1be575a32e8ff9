"""Feature-ensemble attack: a classifier on per-point output features (``toolkit.attacks.features``).

In the spirit of Shokri et al. (S&P 2017), with the feature set of the TML ResNet18 reports (loss,
entropy, modified entropy, margins, p_y, correctness, logits, gradient proxy, sorted softmax) plus
calibrated scores (LiRA, RMIA, hardness) as extra columns. Classifiers: random forest, LightGBM,
MLP, or ``stack`` = logistic regression on the out-of-fold predictions of all three (Wolpert 1992).

Training data — never the target's own rows:

- default: the reference models as pseudo-targets. Reference k contributes its outputs on the
  points, labelled ``keep[k]``; its calibrated columns are computed from the *other* references
  (leave-one-out), so they are distributed like the target's, which uses all references.
  At most ``max_pseudo`` references act as pseudo-targets and ``max_rows`` rows are sampled.
- ``train_logits`` / ``train_labels`` / ``train_membership``: the target's own outputs on other,
  labelled points (the ResNet18 task's public set); then only uncalibrated columns are used.

Out-of-fold predictions (folds by pseudo-target) fit an isotonic map to membership probability;
its plateaus would tie points, so the raw prediction breaks ties (weight 1e-6). With fewer than
two references (and no labelled set), or labels of one class only, nothing can be trained: the
attack falls back to the untrained loss threshold −loss.
"""

from __future__ import annotations

import warnings

import numpy as np

from toolkit.attacks.features import calibrated_features, output_features
from toolkit.attacks.registry import BOOL, FIXED, LEARNING_RATE, N_ESTIMATORS, Choice, IntRange, register
from toolkit.errors import ConfigError
from toolkit.signals import oriented

__all__ = ["MODELS", "make_classifier", "training_set", "fit_predict", "ensemble"]

MODELS = ("rf", "lgbm", "mlp", "stack")


def make_classifier(name: str, seed: int, n_estimators: int = 200, max_depth: int = 8, learning_rate: float = 0.05):
    """A fresh scikit-learn style classifier, single-threaded and seeded."""
    if name == "rf":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(
            n_estimators=n_estimators, max_depth=max_depth, min_samples_leaf=5, random_state=seed, n_jobs=1
        )
    if name == "lgbm":
        from lightgbm import LGBMClassifier

        return LGBMClassifier(
            n_estimators=n_estimators,
            max_depth=max_depth,
            learning_rate=learning_rate,
            num_leaves=31,
            random_state=seed,
            n_jobs=1,
            verbose=-1,
        )
    if name == "mlp":
        from sklearn.neural_network import MLPClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(
            StandardScaler(),
            MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=200, early_stopping=True, random_state=seed),
        )
    raise ConfigError(f"unknown ensemble model {name!r}; valid: {', '.join(MODELS)}")


def training_set(labels, ref, keep, groups, *, calibrated: bool, max_pseudo: int, max_rows: int, rng):
    """Rows from references as pseudo-targets: (X [n, F], y [n], fold id [n])."""
    n_ref = ref.shape[0]
    pseudo = np.sort(rng.choice(n_ref, size=min(n_ref, max_pseudo), replace=False))
    per = max(1, max_rows // len(pseudo))
    xs, ys, ids = [], [], []
    for k in pseudo:  # one vectorised pass per pseudo-target model, not per point
        x, _ = output_features(ref[k], labels)
        if calibrated:
            others = np.arange(n_ref) != k
            x = np.hstack([x, calibrated_features(ref[k], labels, ref[others], keep[others], groups)[0]])
        rows = rng.choice(len(labels), size=min(per, len(labels)), replace=False)
        xs.append(x[rows]), ys.append(keep[k, rows]), ids.append(np.full(len(rows), k))
    return np.vstack(xs), np.concatenate(ys).astype(np.int64), np.concatenate(ids)


def _oof(make, x, y, folds) -> np.ndarray:
    """Out-of-fold P(member) for every training row (folds given by id)."""
    out = np.full(len(y), y.mean())
    for f in np.unique(folds):
        test = folds == f
        if np.unique(y[~test]).size == 2:
            out[test] = make().fit(x[~test], y[~test]).predict_proba(x[test])[:, 1]
    return out


def fit_predict(name: str, x, y, folds, x_target, make) -> np.ndarray:
    """Train on (x, y), score ``x_target``: isotonic-calibrated, or the stacked ensemble."""
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    names = ("rf", "lgbm", "mlp") if name == "stack" else (name,)
    oof = np.column_stack([_oof(lambda k=k: make(k), x, y, folds) for k in names])
    pred = np.column_stack([make(k).fit(x, y).predict_proba(x_target)[:, 1] for k in names])
    if name == "stack":
        return LogisticRegression().fit(oof, y).predict_proba(pred)[:, 1]
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(oof[:, 0], y)
    return iso.predict(pred[:, 0]) + 1e-6 * pred[:, 0]


@register(
    "ensemble",
    simplicity=5,
    needs_references=True,
    tuning={
        "model": Choice(("lgbm", "rf", "mlp", "stack")),
        "calibrated": BOOL,
        "n_estimators": N_ESTIMATORS,
        "max_depth": IntRange(3, 12),
        "learning_rate": LEARNING_RATE,
        **dict.fromkeys(("n_folds", "max_rows", "max_pseudo"), FIXED),
        **dict.fromkeys(("train_logits", "train_labels", "train_membership"), FIXED),  # data, not settings
    },
)
def ensemble(
    target,
    labels,
    ref,
    keep,
    *,
    groups=None,
    seed=0,
    model: str = "lgbm",
    calibrated: bool = True,
    n_estimators: int = 200,
    max_depth: int = 8,
    learning_rate: float = 0.05,
    n_folds: int = 3,
    max_rows: int = 20000,
    max_pseudo: int = 16,
    train_logits=None,
    train_labels=None,
    train_membership=None,
) -> np.ndarray:
    """Classifier on output features, trained on pseudo-targets or a labelled set (module docstring)."""
    if model not in MODELS:
        raise ConfigError(f"unknown ensemble model {model!r}; valid: {', '.join(MODELS)}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    if train_logits is not None:
        if train_labels is None or train_membership is None:
            raise ConfigError("ensemble: train_logits needs train_labels and train_membership too")
        x, _ = output_features(train_logits, np.asarray(train_labels))
        y = np.asarray(train_membership).astype(np.int64)
        folds = rng.integers(0, n_folds, len(y))
        x_target, _ = output_features(target, labels)
    elif ref.shape[0] >= 2:
        x, y, folds = training_set(
            labels, ref, keep, groups, calibrated=calibrated, max_pseudo=max_pseudo, max_rows=max_rows, rng=rng
        )
        folds = np.searchsorted(np.unique(folds), folds) % n_folds
        x_target, _ = output_features(target, labels)
        if calibrated:
            x_target = np.hstack([x_target, calibrated_features(target, labels, ref, keep, groups)[0]])
    else:
        return oriented("loss", target, labels).mean(axis=-1)
    if np.unique(y).size < 2:
        return oriented("loss", target, labels).mean(axis=-1)

    def make(name):
        return make_classifier(name, seed, n_estimators, max_depth, learning_rate)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLP convergence, LightGBM feature-name chatter
        return fit_predict(model, x, y, folds, x_target, make)
