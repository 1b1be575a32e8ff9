"""DP ceilings: the highest TPR any membership test can reach against a model trained with DP-SGD.

A DP-SGD recipe is T steps of the Poisson-subsampled Gaussian mechanism: each record is in a step's
batch with probability q (the sample rate), and the clipped gradient sum gets Gaussian noise of
standard deviation σ (the noise multiplier) relative to the clipping norm, its sensitivity. Google's
``dp-accounting`` builds that mechanism's privacy loss distribution (PLD; Koskela et al. 2020,
Doroshenko et al. 2022 "Connect the dots") and composes it T times; the composed PLD gives the privacy
profile δ(ε), the hockey-stick divergence, at every ε ≥ 0. A mechanism that is (ε, δ(ε))-DP for every
ε ≥ 0 is f-DP with (Dong, Roth & Su 2019, "Gaussian differential privacy", Prop. 2.12)

    f(α) = sup_{ε ≥ 0} max(0, 1 − δ(ε) − e^ε·α, e^{−ε}·(1 − δ(ε) − α)),

so a test that flags non-members with probability α (its FPR) flags members with probability at
most 1 − f(α): the ceiling.

Every approximation errs upward, so the ceiling stays a valid bound: the PLD is discretised
pessimistically (δ(ε) rounded up), both adjacencies are taken (``ADD_OR_REMOVE_ONE``: δ(ε) is the
larger of the add and the remove divergence, the standard DP-SGD accounting, so the bound holds for
either direction of the test), and the supremum runs over a finite grid of ε (a smaller f, a higher
ceiling). The library is imported when a ceiling is first computed, never when this module is.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np

from toolkit.errors import ConfigError
from toolkit.io import atomic_write_text, sha256_bytes

__all__ = [
    "privacy_profile",
    "tradeoff",
    "tpr_ceiling",
    "ceiling_curve",
    "curve_fprs",
    "accounting_library",
    "privacy_cache_dir",
    "cached_json",
    "cached_ceiling",
    "EPSILON_GRID",
    "DISCRETIZATION",
    "ADJACENCY",
]

EPSILON_GRID = np.linspace(0.0, 40.0, 8001)  # step 0.005; δ(40) is the PLD's truncation floor (~1e-15)
DISCRETIZATION = 1e-3  # the PLD's loss grid: 10× the library's default, 10× faster, ceilings move < 0.001
ADJACENCY = "add or remove one record (the larger δ of the two)"
CACHE_VERSION = 1  # bump when what a cached ceiling means changes


def _check(sample_rate: float, steps: int, noise_multiplier: float) -> None:
    if not 0 < sample_rate <= 1:
        raise ConfigError(f"DP ceiling: the sample rate must lie in (0, 1], got {sample_rate}")
    if int(steps) != steps or steps < 1:
        raise ConfigError(f"DP ceiling: the number of steps must be a positive integer, got {steps}")
    if not (math.isfinite(noise_multiplier) and noise_multiplier > 0):
        raise ConfigError(f"DP ceiling: the noise multiplier must be a positive number, got {noise_multiplier}")


def privacy_profile(epsilons, *, sample_rate: float, steps: int, noise_multiplier: float) -> np.ndarray:
    """δ(ε) at each of ``epsilons`` for T = ``steps`` compositions of the subsampled Gaussian mechanism.

    The PLD of ``dp_accounting.pld.privacy_loss_distribution.from_gaussian_mechanism`` (sensitivity 1,
    std ``noise_multiplier``, ``sampling_prob`` q, pessimistic, add-or-remove adjacency), self-composed.
    """
    _check(sample_rate, steps, noise_multiplier)
    try:
        from dp_accounting import privacy_accountant
        from dp_accounting.pld import privacy_loss_distribution as pld
    except ImportError:
        raise ConfigError("DP ceilings need Google's dp-accounting", "pip install -e '.[dp]' (make does it)") from None
    one = pld.from_gaussian_mechanism(
        float(noise_multiplier),
        sensitivity=1.0,
        pessimistic_estimate=True,
        value_discretization_interval=DISCRETIZATION,
        sampling_prob=float(sample_rate),
        neighboring_relation=privacy_accountant.NeighboringRelation.ADD_OR_REMOVE_ONE,
    )
    composed = one.self_compose(int(steps)) if steps > 1 else one
    return np.asarray(composed.get_delta_for_epsilon(np.asarray(epsilons, dtype=np.float64)), dtype=np.float64)


def tradeoff(fpr, epsilons, deltas) -> np.ndarray:
    """f(α) = max over the profile's points of max(0, 1 − δ − e^ε·α, e^{−ε}·(1 − δ − α)) (Dong et al., Prop. 2.12).

    ``fpr``: α, any shape; ``epsilons``, ``deltas``: the profile, shape [M]. Returns f with α's shape.
    """
    a = np.asarray(fpr, dtype=np.float64)
    eps = np.asarray(epsilons, dtype=np.float64).ravel()
    gap = 1.0 - np.asarray(deltas, dtype=np.float64).ravel()  # 1 − δ(ε)
    flat, up, down = a.reshape(-1, 1), np.exp(eps), np.exp(-eps)
    f = np.empty(flat.shape[0])
    for i in range(0, len(f), 512):  # blocks of 512 FPRs × M: bounded memory for long FPR arrays
        block = flat[i : i + 512]
        f[i : i + 512] = np.maximum(gap - up * block, down * (gap - block)).max(axis=1)
    return np.maximum(f, 0.0).reshape(a.shape)


def tpr_ceiling(fpr, *, sample_rate: float, steps: int, noise_multiplier: float):
    """1 − f(α): no membership test at FPR α can have a higher TPR under this DP-SGD recipe.

    ``fpr``: a float or an array of FPRs in [0, 1]; returns a float or an array of the same shape.
    """
    a = np.asarray(fpr, dtype=np.float64)
    if a.size and not (np.all(a >= 0) and np.all(a <= 1)):
        raise ConfigError("DP ceiling: every FPR must lie in [0, 1]")
    deltas = privacy_profile(EPSILON_GRID, sample_rate=sample_rate, steps=steps, noise_multiplier=noise_multiplier)
    tpr = np.clip(1.0 - tradeoff(a, EPSILON_GRID, deltas), a, 1.0)  # never below chance (f(α) ≤ 1 − α)
    return float(tpr) if np.ndim(fpr) == 0 else tpr


def curve_fprs(lowest: float = 1e-6, points: int = 121) -> np.ndarray:
    """The FPRs a ceiling curve is drawn at: log-spaced from ``lowest`` to 1 (10 points per decade by default)."""
    return np.logspace(math.log10(lowest), 0.0, points)


def ceiling_curve(
    *, sample_rate: float, steps: int, noise_multiplier: float, lowest: float = 1e-6, points: int = 121
) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, TPR ceiling) on ``points`` log-spaced FPRs from ``lowest`` to 1, for linear and log-log plots."""
    fpr = curve_fprs(lowest, points)
    return fpr, tpr_ceiling(fpr, sample_rate=sample_rate, steps=steps, noise_multiplier=noise_multiplier)


def accounting_library() -> str:
    """The accountant that computes the ceilings, with its version: 'dp-accounting 0.6.0'."""
    try:
        return f"dp-accounting {metadata.version('dp-accounting')}"
    except metadata.PackageNotFoundError:
        return "dp-accounting (not installed)"


def privacy_cache_dir() -> Path:
    """``$MIA_CACHE_DIR/privacy`` (default ``.cache/privacy``)."""
    return Path(os.environ.get("MIA_CACHE_DIR", ".cache")) / "privacy"


def cached_json(key: dict, compute: Callable[[], dict], folder: Path | None = None) -> dict:
    """``compute()``'s JSON value, stored under a file named by the hash of ``key`` and reused while ``key`` holds.

    The file keeps its key: a hash collision or a foreign file is recomputed, never trusted. A cache that
    cannot be written (a read-only folder) costs the time of computing again, not the run.
    """
    key = json.loads(json.dumps(key, sort_keys=True))  # as it reads back (tuples become lists)
    text = json.dumps(key, sort_keys=True)
    path = Path(folder or privacy_cache_dir()) / f"{sha256_bytes(text.encode())[:32]}.json"
    try:
        stored = json.loads(path.read_text())
        if isinstance(stored, dict) and stored.get("key") == key:
            return stored["value"]
    except (OSError, ValueError, KeyError):
        pass
    value = compute()
    try:
        atomic_write_text(path, json.dumps({"key": key, "value": value}, sort_keys=True))
    except OSError:
        pass
    return value


def cached_ceiling(
    *, sample_rate: float, steps: int, noise_multiplier: float, fprs=(), folder: Path | None = None
) -> dict:
    """The ceiling curve and the ceiling at each of ``fprs``, cached per recipe (content-keyed JSON).

    Returns ``{"fpr": [...], "tpr": [...], "at": {"<fpr>": tpr, ...}, "library": ..., "adjacency": ...}``.
    """
    recipe = dict(sample_rate=float(sample_rate), steps=int(steps), noise_multiplier=float(noise_multiplier))
    _check(**recipe)
    fprs = sorted({float(x) for x in fprs})
    key = {
        "what": "dp ceiling",
        "version": CACHE_VERSION,
        **recipe,
        "fprs": fprs,
        "library": accounting_library(),
        "discretization": DISCRETIZATION,
        "epsilon_grid": [float(EPSILON_GRID[0]), float(EPSILON_GRID[-1]), len(EPSILON_GRID)],
    }

    def compute() -> dict:
        fpr = curve_fprs()
        both = tpr_ceiling(np.concatenate([fpr, fprs]), **recipe)  # one PLD for the curve and the points
        tpr, at = both[: len(fpr)], both[len(fpr) :]
        return {
            "fpr": fpr.tolist(),
            "tpr": tpr.tolist(),
            "at": {repr(x): float(t) for x, t in zip(fprs, at)},
            "library": key["library"],
            "adjacency": ADJACENCY,
        }

    return cached_json(key, compute, folder)
