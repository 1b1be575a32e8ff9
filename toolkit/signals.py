"""The array contract and per-example signals computed from logits.

Contract (checked at every public boundary, never silently transposed):

- ``logits``: float32 ``[n_models, n_points, n_views, n_classes]``, models first.
- ``labels``: int64 ``[n_points]``.
- ``keep``: bool ``[n_models, n_points]``: was point j in model i's training set.
- ``scores``: float64 ``[n_points]``, higher = more likely member, finite.

Signals are computed in float64 from logits of any leading shape ``[..., n_points, n_views, C]``
with labels ``[n_points]`` and return ``[..., n_points, n_views]``.
"""

from __future__ import annotations

import numpy as np

from toolkit.errors import ContractError

__all__ = [
    "check_logits",
    "check_labels",
    "check_keep",
    "check_scores",
    "minmax",
    "score_problems",
    "label_problems",
    "SIGNALS",
    "MEMBER_SIGN",
    "signal",
    "oriented",
    "log_softmax",
    "loss",
    "confidence",
    "phi",
    "margin",
    "entropy",
    "modified_entropy",
]


def check_logits(logits: np.ndarray, name: str = "logits", ndim: int = 4) -> np.ndarray:
    """Return ``logits`` as a float array after checking rank and finiteness."""
    arr = np.asarray(logits)
    if arr.ndim != ndim:
        raise ContractError(
            f"{name} must have {ndim} dimensions "
            f"{'[n_models, n_points, n_views, n_classes]' if ndim == 4 else ''}, got shape {arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.floating):
        raise ContractError(f"{name} must be floating point, got {arr.dtype}")
    if not np.isfinite(arr).all():
        raise ContractError(f"{name} contains NaN or infinite values")
    return arr


def check_labels(labels: np.ndarray, n_points: int, n_classes: int | None = None) -> np.ndarray:
    """Labels as int [n_points], each in [0, n_classes) when given; else a ``ContractError``."""
    arr = np.asarray(labels)
    if arr.shape != (n_points,) or not np.issubdtype(arr.dtype, np.integer):
        raise ContractError(f"labels must be int [n_points={n_points}], got {arr.dtype} {arr.shape}")
    if n_classes is not None and arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        raise ContractError(f"labels must lie in [0, {n_classes}), got [{arr.min()}, {arr.max()}]")
    return arr.astype(np.int64, copy=False)


def check_keep(keep: np.ndarray, n_models: int, n_points: int) -> np.ndarray:
    """``keep`` exactly bool [n_models, n_points]: a transposed or flattened mask is an error, never reshaped."""
    arr = np.asarray(keep)
    if arr.shape != (n_models, n_points) or arr.dtype != np.bool_:
        raise ContractError(
            f"keep must be bool [n_models={n_models}, n_points={n_points}], got {arr.dtype} {arr.shape}"
        )
    return arr


def score_problems(scores: np.ndarray, n: int | None = None, *, unit: bool = False) -> list[str]:
    """Every rule a score vector breaks: 1-D of length ``n``, finite, and in [0, 1] where ``unit``.

    The one score validator: attacks' outputs, MICO prediction rows, ``ids,score`` CSVs and the
    metrics all ask it, and turn its list into their own error.
    """
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim != 1 or (n is not None and len(arr) != n):
        return [
            f"{arr.shape[0] if arr.ndim == 1 else arr.shape} values, expected {n if n is not None else 'a 1-D array'}"
        ]
    bad = int((~np.isfinite(arr)).sum())
    if bad:
        return [f"{bad} NaN or infinite value(s)"]
    if unit and len(arr) and (arr.min() < 0 or arr.max() > 1):
        return [f"values outside [0, 1] (range [{arr.min():.4g}, {arr.max():.4g}])"]
    return []


def label_problems(labels: np.ndarray, n: int | None = None, *, both: bool = True) -> list[str]:
    """Every rule a membership label vector breaks: 1-D of length ``n``, 0/1 only, and both classes where ``both``."""
    arr = np.asarray(labels)
    if arr.ndim != 1 or (n is not None and len(arr) != n):
        return [f"labels of shape {arr.shape}, expected [{n if n is not None else 'n'}]"]
    if not np.isin(arr, (0, 1)).all():
        return ["labels must be 0/1"]
    if both and arr.min(initial=1) == arr.max(initial=0):
        return ["labels must contain both members (1) and non-members (0)"]
    return []


def check_scores(scores: np.ndarray, n_points: int, name: str = "scores") -> np.ndarray:
    """Scores by the contract: float64 [n_points], finite."""
    problems = score_problems(scores, n_points)
    if problems:
        raise ContractError(f"{name}: {problems[0]} (the contract: float64 [n_points={n_points}], finite)")
    return np.asarray(scores, dtype=np.float64)


def minmax(scores) -> np.ndarray:
    """Min-max to [0, 1], order and ties kept; a constant vector becomes 0.5 (submissions' score range)."""
    s = np.asarray(scores, dtype=np.float64)
    lo, hi = s.min(), s.max()
    return np.full_like(s, 0.5) if hi <= lo else np.clip((s - lo) / (hi - lo), 0.0, 1.0)


def _true_class(values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """values[..., j, v, labels[j]] for every leading index, as [..., n_points, n_views]."""
    idx = np.broadcast_to(labels.reshape(labels.shape + (1, 1)), values.shape[:-1] + (1,))
    return np.take_along_axis(values, idx, axis=-1)[..., 0]


def _others_mask(shape: tuple, labels: np.ndarray) -> np.ndarray:
    """Boolean mask, True where the class is not the point's label."""
    onehot = np.arange(shape[-1]) == labels.reshape(labels.shape + (1, 1))
    return ~np.broadcast_to(onehot, shape)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable log-softmax over the last axis, in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def loss(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Cross-entropy −log p_y = logsumexp(z) − z_y."""
    return -_true_class(log_softmax(logits), labels)


def confidence(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """p_y, softmax after subtracting max(z)."""
    return np.exp(_true_class(log_softmax(logits), labels))


def phi(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Logit-scaled confidence log(p_y/(1−p_y)) = z_y − logsumexp_{j≠y} z_j, exact (LiRA).

    Computing it from logits avoids the epsilon that log(p/(1−p)) needs when p rounds to 1.
    """
    z = np.asarray(logits, dtype=np.float64)
    zy = _true_class(z, labels)
    others = np.where(_others_mask(z.shape, labels), z, -np.inf)
    top = others.max(axis=-1, keepdims=True)
    lse_others = top[..., 0] + np.log(np.exp(others - top).sum(axis=-1))
    return zy - lse_others


def margin(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """z_y − max_{j≠y} z_j."""
    z = np.asarray(logits, dtype=np.float64)
    others = np.where(_others_mask(z.shape, labels), z, -np.inf)
    return _true_class(z, labels) - others.max(axis=-1)


def entropy(logits: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """Shannon entropy −Σ p_i log p_i of the softmax (labels unused)."""
    logp = log_softmax(logits)
    return -(np.exp(logp) * logp).sum(axis=-1)


def modified_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Song & Mittal (2021): −(1−p_y) log p_y − Σ_{i≠y} p_i log(1−p_i).

    log p_y comes from log-softmax; log(1−p_i) uses log1p on p clamped below 1 so that a
    saturated softmax gives a large finite value instead of −inf.
    """
    logp = log_softmax(logits)
    p = np.exp(logp)
    tiny = np.finfo(np.float64).tiny
    log1m = np.log1p(-np.minimum(p, 1.0 - np.finfo(np.float64).eps))
    py = _true_class(p, labels)
    logpy = np.maximum(_true_class(logp, labels), np.log(tiny))
    others = np.where(_others_mask(p.shape, labels), p * log1m, 0.0).sum(axis=-1)
    return -(1.0 - py) * logpy - others


SIGNALS = {
    "loss": loss,
    "confidence": confidence,
    "phi": phi,
    "margin": margin,
    "entropy": entropy,
    "modified_entropy": modified_entropy,
}

# +1: higher signal = more likely member; −1: lower signal = more likely member.
MEMBER_SIGN = {
    "loss": -1.0,
    "confidence": 1.0,
    "phi": 1.0,
    "margin": 1.0,
    "entropy": -1.0,
    "modified_entropy": -1.0,
}


def signal(name: str, logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Compute a named signal; unknown names list the valid ones."""
    try:
        fn = SIGNALS[name]
    except KeyError:
        from toolkit.errors import ConfigError

        raise ConfigError(f"unknown signal {name!r}; valid signals: {', '.join(sorted(SIGNALS))}") from None
    return fn(logits, labels)


def oriented(name: str, logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The named signal, sign-flipped where needed so that higher = more likely member."""
    return MEMBER_SIGN[name] * signal(name, logits, labels)
