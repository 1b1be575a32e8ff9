"""Quantile-regression attack (Bertran, Tang, Kearns, Morgenstern, Roth, Wu, "Scalable Membership
Inference Attacks via Quantile Regression", NeurIPS 2023).

A regressor q̂_α(x) predicts, from features of the point x, the α-quantile of the score s that a
model gets on x when x is *not* in its training set; then

    score(x) = s(x) − q̂_α(x)         (s = the oriented ``signal``, φ = log(p_y / (1 − p_y)) by default)

so that thresholding at 0 has false-positive rate ≈ 1 − α on every kind of point. q̂ is a LightGBM
regressor with the pinball loss (objective="quantile", alpha=α); small, seeded and deterministic.

Training set (the paper fits on known non-members of the target; the registry signature has none):
the reference models' OUT rows, (model k, point j) with keep[k, j] False, whose score s_k(j) is a
non-member score. Features of a point (our choice, as the signature carries no inputs x):

- the label y (a categorical column), and
- the mean over the reference models of ``toolkit.attacks.features.output_features`` on x (how
  the reference population treats x: its p_y, loss, entropy, margins, sorted softmax ...). A
  training row (k, j) uses the mean over the *other* references, so that it never contains the
  output it has to predict; the target's rows use the mean over all references.

Because q̂ is shared by all points, a point with few or no OUT references still gets a threshold
learnt from points that look like it. With fewer than two references the features are the label
only (a per-class quantile); with too few OUT rows (< 20) nothing can be fitted and the score is
s(x) itself (the threshold attack). ``fit_quantile`` / ``quantile_threshold`` are the plain pieces
for callers that do have known non-members (e.g. a public set's non-members in toolkit/tml).
"""

from __future__ import annotations

import warnings

import numpy as np

from toolkit.attacks.features import output_features
from toolkit.attacks.registry import FIXED, LEARNING_RATE, N_ESTIMATORS, SIGNAL, register
from toolkit.errors import ConfigError
from toolkit.signals import SIGNALS, oriented

__all__ = ["fit_quantile", "quantile_threshold", "point_features", "training_rows", "quantile"]

MIN_ROWS = 20


def fit_quantile(
    features: np.ndarray,
    scores: np.ndarray,
    alpha: float,
    *,
    seed: int = 0,
    n_estimators: int = 150,
    num_leaves: int = 31,
    learning_rate: float = 0.05,
    categorical: tuple[int, ...] = (0,),
    n_jobs: int = 1,
):
    """A LightGBM α-quantile regressor of ``scores`` [n] on ``features`` [n, F] (column 0: the label)."""
    from lightgbm import LGBMRegressor

    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"quantile level must lie in (0, 1), got {alpha}")
    model = LGBMRegressor(
        objective="quantile",
        alpha=alpha,
        n_estimators=n_estimators,
        num_leaves=num_leaves,
        learning_rate=learning_rate,
        min_child_samples=20,
        min_data_per_group=20,
        random_state=seed,
        n_jobs=n_jobs,
        deterministic=True,
        force_row_wise=True,
        verbose=-1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # feature-name chatter
        return model.fit(
            np.asarray(features, dtype=np.float64),
            np.asarray(scores, dtype=np.float64),
            categorical_feature=list(categorical),
        )


def quantile_threshold(model, features: np.ndarray) -> np.ndarray:
    """q̂_α(x) for every row of ``features`` [n, F]: the predicted non-member score quantile."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(model.predict(np.asarray(features, dtype=np.float64)), dtype=np.float64)


def point_features(ref: np.ndarray, labels: np.ndarray):
    """(per-reference features [R, P, F], their sum over references [P, F]) of ``ref`` [R, P, V, C]."""
    own, _ = output_features(ref, labels, top_k=3)
    return own, own.sum(axis=0)


def training_rows(own: np.ndarray, total: np.ndarray, labels: np.ndarray, keep: np.ndarray, max_rows: int, rng):
    """(features [n, 1 + F], reference index [n], point index [n]) of sampled OUT pairs (k, j)."""
    k, j = np.nonzero(~keep)
    if len(k) > max_rows:
        pick = np.sort(rng.choice(len(k), size=max_rows, replace=False))
        k, j = k[pick], j[pick]
    n_ref = own.shape[0]
    x = (total[j] - own[k, j]) / (n_ref - 1) if n_ref > 1 else np.zeros((len(j), 0))
    return np.column_stack([labels[j], x]), k, j


@register(
    "quantile",
    simplicity=4,
    needs_references=True,
    tuning={
        "signal": SIGNAL,
        "level": FIXED,
        "n_estimators": N_ESTIMATORS,
        "num_leaves": FIXED,
        "learning_rate": LEARNING_RATE,
        "max_rows": FIXED,
    },
    variants=[{}, {"level": 0.99}],
)
def quantile(
    target,
    labels,
    ref,
    keep,
    *,
    groups=None,
    seed=0,
    signal: str = "phi",
    level: float = 0.9,
    n_estimators: int = 150,
    num_leaves: int = 31,
    learning_rate: float = 0.05,
    max_rows: int = 50_000,
) -> np.ndarray:
    """Bertran et al. (NeurIPS 2023): s(x) − q̂_level(x), q̂ fitted on the references' OUT rows."""
    if signal not in SIGNALS:
        raise ConfigError(f"unknown signal {signal!r}; valid signals: {', '.join(sorted(SIGNALS))}")
    if not 0.0 < level < 1.0 or max_rows < MIN_ROWS:
        raise ConfigError(
            f"quantile needs 0 < level < 1 and max_rows >= {MIN_ROWS}; got level={level}, max_rows={max_rows}"
        )
    labels = np.asarray(labels)
    s = oriented(signal, target, labels).mean(axis=-1)
    keep = np.asarray(keep, dtype=bool)
    if (~keep).sum() < MIN_ROWS:
        return s
    own, total = point_features(ref, labels)
    x, k, j = training_rows(own, total, labels, keep, max_rows, np.random.default_rng(seed))
    y = oriented(signal, ref[k, j], labels[j]).mean(axis=-1)
    model = fit_quantile(
        x, y, level, seed=seed, n_estimators=n_estimators, num_leaves=num_leaves, learning_rate=learning_rate
    )
    x_target = np.column_stack([labels, total / ref.shape[0] if ref.shape[0] > 1 else np.zeros((len(labels), 0))])
    return s - quantile_threshold(model, x_target)
