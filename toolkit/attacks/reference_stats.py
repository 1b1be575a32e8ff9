"""Per-point statistics of reference models, split by membership (shared by calibrated attacks).

All functions are vectorised over points; a point with no IN (or OUT) reference gets NaN in the
corresponding statistic and a count of zero, and callers choose the fallback.
"""

from __future__ import annotations

import numpy as np

__all__ = ["masked_mean", "masked_std", "masked_median"]


def masked_mean(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean over axis 0 of ``values`` [n_ref, n_points] where ``mask``; NaN where none."""
    count = mask.sum(0)
    total = np.where(mask, values, 0.0).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def masked_std(values: np.ndarray, mask: np.ndarray, ddof: int = 0) -> np.ndarray:
    """Standard deviation over axis 0 where ``mask``; NaN where fewer than ddof+1 values."""
    count = mask.sum(0)
    mu = masked_mean(values, mask)
    sq = np.where(mask, (values - np.nan_to_num(mu)) ** 2, 0.0).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > ddof, np.sqrt(sq / np.maximum(count - ddof, 1)), np.nan)


def masked_median(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Median over axis 0 where ``mask``; NaN where none."""
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmedian(np.where(mask, values, np.nan), axis=0)
