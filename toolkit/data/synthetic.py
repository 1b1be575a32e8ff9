"""Gaussian-cluster data (the model-size study, ``mia study scaling``): centres ~ N(0, I), points ~ N(μ_k, σ² I)."""

from __future__ import annotations

import numpy as np

__all__ = ["cluster_centres", "gaussian_clusters"]


def cluster_centres(rng: np.random.Generator, n_classes: int, n_features: int) -> np.ndarray:
    """[n_classes, n_features] centres drawn from N(0, I)."""
    return rng.standard_normal((n_classes, n_features))


def gaussian_clusters(
    rng: np.random.Generator, centres: np.ndarray, n_per_class: int, noise_std: float
) -> tuple[np.ndarray, np.ndarray]:
    """``n_per_class`` points around each centre, shuffled: (x float32 [C·n, d], y int64 [C·n])."""
    n_classes, n_features = centres.shape
    y = np.repeat(np.arange(n_classes, dtype=np.int64), n_per_class)
    x = centres[y] + noise_std * rng.standard_normal((len(y), n_features))
    order = rng.permutation(len(y))
    return x[order].astype(np.float32), y[order]
