"""The embedded default's population: scikit-learn's bundled 8×8 handwritten digits (1,797 images).

It ships inside scikit-learn, so the demo track needs no download. Pixels (0..16) are scaled to
[0, 1]; the order is the file's.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from toolkit.data import Population, register_dataset
from toolkit.io import sha256_bytes

__all__ = ["load_demo"]


@lru_cache(maxsize=1)
def _digits() -> Population:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = np.asarray(bunch.data, dtype=np.float32) / 16.0
    y = np.asarray(bunch.target, dtype=np.int64)
    return Population(x, y, "demo:" + sha256_bytes(x.tobytes() + y.tobytes())[:16], "scikit-learn's digits")


@register_dataset("demo")
def load_demo(data_dir=None, dataset_dir=None) -> Population:
    return _digits()
