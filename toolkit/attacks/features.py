"""Per-point feature matrix of a model's outputs, for learned attacks (feature ensembles).

Columns (all float64, computed per view from logits and averaged over views):

- ``p_sorted_0 .. p_sorted_{k-1}``: the softmax vector sorted descending (class-agnostic; top k)
- ``p_raw_0 ..``: the unsorted softmax vector (only with ``raw_softmax=True``)
- ``loss`` −log p_y, ``entropy``, ``modified_entropy`` (Song & Mittal 2021), ``top2_margin``
  p_(1) − p_(2), ``p_y``, ``correct`` [argmax = y], ``max_logit``, ``true_logit``,
  ``grad_proxy`` 1 − p_y (= −∂loss/∂z_y), ``phi`` log(p_y/(1 − p_y)), ``logit_margin``
- optional calibrated columns ``lira``, ``rmia``, ``hardness`` from reference models (see
  ``calibrated_features``), which make the features comparable across points of unequal hardness.
"""

from __future__ import annotations

import numpy as np

from toolkit import signals

__all__ = ["BASE_FEATURES", "output_features", "calibrated_features", "CALIBRATED_FEATURES"]

BASE_FEATURES = (
    "loss",
    "entropy",
    "modified_entropy",
    "top2_margin",
    "p_y",
    "correct",
    "max_logit",
    "true_logit",
    "grad_proxy",
    "phi",
    "logit_margin",
)
CALIBRATED_FEATURES = ("lira", "rmia", "hardness")


def output_features(
    logits: np.ndarray, labels: np.ndarray, *, top_k: int = 10, raw_softmax: bool = False
) -> tuple[np.ndarray, list[str]]:
    """Features of ``logits`` [..., P, V, C] with ``labels`` [P] -> ([..., P, F], column names)."""
    z = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels)
    logp = signals.log_softmax(z)
    p = np.exp(logp)
    k = min(top_k, z.shape[-1])
    p_sorted = -np.sort(-p, axis=-1)
    py = signals.confidence(z, labels)
    idx = np.broadcast_to(labels.reshape(-1, 1, 1), z.shape[:-1] + (1,))
    cols = {
        "loss": signals.loss(z, labels),
        "entropy": signals.entropy(z),
        "modified_entropy": signals.modified_entropy(z, labels),
        "top2_margin": p_sorted[..., 0] - (p_sorted[..., 1] if z.shape[-1] > 1 else 0.0),
        "p_y": py,
        "correct": (z.argmax(-1) == labels[:, None]).astype(np.float64),
        "max_logit": z.max(-1),
        "true_logit": np.take_along_axis(z, idx, axis=-1)[..., 0],
        "grad_proxy": 1.0 - py,
        "phi": signals.phi(z, labels),
        "logit_margin": signals.margin(z, labels),
    }
    blocks = [p_sorted[..., :k]] + ([p] if raw_softmax else []) + [np.stack(list(cols.values()), axis=-1)]
    names = (
        [f"p_sorted_{i}" for i in range(k)]
        + ([f"p_raw_{i}" for i in range(z.shape[-1])] if raw_softmax else [])
        + list(cols)
    )
    return np.concatenate(blocks, axis=-1).mean(axis=-2), names


def calibrated_features(
    target: np.ndarray, labels: np.ndarray, ref: np.ndarray, keep: np.ndarray, groups: np.ndarray | None = None
) -> tuple[np.ndarray, list[str]]:
    """LiRA (online, fixed variance), RMIA (offline) and hardness (loss, 'in') scores: [P, 3]."""
    from toolkit.attacks.hardness import hardness
    from toolkit.attacks.lira import lira
    from toolkit.attacks.rmia import rmia

    cols = [f(target, labels, ref, keep, groups=groups) for f in (lira, rmia, hardness)]
    return np.stack(cols, axis=-1), list(CALIBRATED_FEATURES)
