"""A DP scenario's two bounds: the ceiling its training recipe puts on any attack, and the empirical ε lower
bound an attack's validation scores show.

The ceiling comes from the recipe its models were trained with (``toolkit.privacy`` computes it).

The recipe is the track's: a local challenge's models come from its ``[build]`` table (the toolkit's own
DP-SGD: ``dp_batch_size``, ``dp_epochs``, RDP accountant, ⌈epochs / q⌉ Poisson steps), the organisers'
models from ``[references]`` with the scenario's overrides (their Opacus loaders: ``epochs × round(1/q)``
steps, MICO's CIFAR-10 50 × 98 = 4,900, Purchase-100 30 × 293 = 8,790, SST-2 3 × 66 = 198). In both,
q = batch / n with n the scenario's training-set size, and σ is what the recipe's accountant gives for
the scenario's (ε, δ) at that q and number of epochs (``toolkit.models.training.noise_multiplier``).

``epsilon_report`` turns a validation ROC into an empirical ε lower bound (Jagielski et al. 2020; Nasr et al.
2021) with Clopper–Pearson limits, choosing the threshold on one half of the points and counting on the other.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from importlib import metadata

import numpy as np

from toolkit.errors import ConfigError
from toolkit.metrics import FPR_GRID, metric_key
from toolkit.privacy import ADJACENCY, DISCRETIZATION, cached_ceiling
from toolkit.signals import label_problems, score_problems
from toolkit.tracks import Scenario, Track
from toolkit.training_tables import References

__all__ = ["DPRecipe", "dp_recipe", "recipe_ceiling", "epsilon_report"]


@dataclass(frozen=True, kw_only=True)
class DPRecipe:
    """What bounds a DP scenario: (ε, δ), Poisson sample rate q, epochs, steps T, σ's accountant, the table."""

    epsilon: float
    delta: float
    sample_rate: float
    epochs: int
    steps: int
    accountant: str
    source: str  # the track.toml table the recipe comes from: "build" or "references"


def dp_recipe(track: Track, scenario: Scenario) -> DPRecipe | None:
    """The DP-SGD recipe of ``scenario``'s models; None for a non-DP scenario or a track with no recipe table."""
    if not scenario.dp:
        return None
    if track.build is None:
        refs, source = track.references_of(scenario), "references"
    else:
        refs, source = References.from_build(track.build), "build"
    if refs is None:
        return None
    train = refs.training(scenario.epsilon)
    n = refs.len_training or track.len_training_of(scenario)
    q = min(1.0, train["batch_size"] / n)
    epochs = train["epochs"]
    steps = math.ceil(epochs / q) if source == "build" else epochs * max(1, round(1 / q))
    return DPRecipe(
        epsilon=scenario.epsilon,
        delta=train["delta"],
        sample_rate=q,
        epochs=epochs,
        steps=steps,
        accountant=train["accountant"],
        source=source,
    )


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "(not installed)"


def recipe_ceiling(track: Track, scenario: Scenario, fprs=FPR_GRID) -> dict | None:
    """The manifest's ``dp_ceiling`` entry of a DP scenario (None otherwise): its recipe (q, T, σ, δ, ε),
    the TPR ceiling at each of ``fprs`` keyed as the scorer's figures (``TPR_FPR_1000`` for 10%), and
    the library that computed it."""
    from toolkit.models.training import noise_multiplier

    recipe = dp_recipe(track, scenario)
    if recipe is None:
        return None
    r = recipe  # σ for its (ε, δ) from its accountant: the trainer's own search, cached on disk per setting
    try:
        sigma = noise_multiplier(r.epsilon, r.delta, r.sample_rate, r.epochs, r.accountant)
    except ValueError as exc:  # Opacus: "The privacy budget is too low." where no σ up to its cap reaches ε
        raise ConfigError(f"no noise multiplier reaches ε={r.epsilon:g} at q={r.sample_rate:.4g}: {exc}") from None
    found = cached_ceiling(sample_rate=recipe.sample_rate, steps=recipe.steps, noise_multiplier=sigma, fprs=fprs)
    return {
        **asdict(recipe),
        "noise_multiplier": sigma,
        "noise_multiplier_by": f"opacus {_version('opacus')} ({recipe.accountant} accountant)",
        "tpr_ceiling": {metric_key(x): found["at"][repr(float(x))] for x in fprs},
        "library": found["library"],
        "adjacency": ADJACENCY,
        "pld_discretization": DISCRETIZATION,
    }


def _best_threshold(y: np.ndarray, s: np.ndarray, delta: float, alpha: float) -> float:
    """The threshold (score ≥ t ⇒ member) maximising the confident ε bound on (y, s)."""
    from scipy.stats import beta

    order = np.argsort(-s, kind="stable")
    ys, ss = y[order], s[order]
    last = np.r_[ss[1:] != ss[:-1], True]  # only cut between distinct scores
    tp, fp = np.cumsum(ys)[last], np.cumsum(1 - ys)[last]
    P, Q = max(int(y.sum()), 1), max(int(len(y) - y.sum()), 1)
    a = alpha / 2
    tpr_lo = np.where(tp > 0, beta.ppf(a, tp, P - tp + 1), 0.0)
    fpr_hi = np.where(fp < Q, beta.ppf(1 - a, fp + 1, Q - fp), 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        e1 = np.log(np.maximum(tpr_lo - delta, 0) / fpr_hi)
        e2 = np.log(np.maximum(1 - delta - fpr_hi, 0) / (1 - tpr_lo))
    eps = np.nan_to_num(np.maximum(e1, e2), nan=-np.inf, posinf=-np.inf)
    return float(ss[last][int(np.argmax(eps))])


def epsilon_report(y, scores, delta: float = 1e-5, *, alpha: float = 0.05, seed: int = 0) -> dict:
    """Empirical ε lower bound from labelled scores (e.g. the validation split of a DP scenario).

    The points are split in two halves at random; the threshold is chosen on the first half (the
    one maximising the Clopper–Pearson bound there) and TPR/FPR are counted on the second, so the
    bound is valid at confidence 1 − alpha. Returns the threshold, the held-out counts and rates,
    ``eps_point`` (plug-in) and ``eps_lower`` (confident) from ``metrics.epsilon_lower_bound``.
    """
    from toolkit.metrics import epsilon_lower_bound

    y = np.asarray(y).astype(np.int64).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    problems = label_problems(y, len(s), both=False) + score_problems(s)
    if problems or len(y) < 4:
        raise ConfigError(
            "epsilon_report needs equally long 0/1 labels and finite scores, at least 4 points: "
            + "; ".join(problems or [f"{len(y)} points"])
        )
    half = np.random.default_rng(seed).permutation(len(y)) < len(y) // 2
    t = _best_threshold(y[half], s[half], delta, alpha)
    yb, pred = y[~half], s[~half] >= t
    n_pos, n_neg = int(yb.sum()), int(len(yb) - yb.sum())
    if n_pos == 0 or n_neg == 0:
        raise ConfigError("the held-out half needs members and non-members")
    tpr, fpr = float(pred[yb == 1].mean()), float(pred[yb == 0].mean())
    point, lower = epsilon_lower_bound(tpr, fpr, n_pos, n_neg, delta=delta, alpha=alpha)
    return {
        "threshold": t,
        "tpr": tpr,
        "fpr": fpr,
        "n_pos": n_pos,
        "n_neg": n_neg,
        "delta": delta,
        "alpha": alpha,
        "eps_point": point,
        "eps_lower": lower,
    }
