"""A DP scenario's ceiling, from the recipe its models were trained with (``toolkit.privacy`` computes it).

The recipe is the track's: a local challenge's models come from its ``[build]`` table (the toolkit's own
DP-SGD: ``dp_batch_size``, ``dp_epochs``, RDP accountant, ⌈epochs / q⌉ Poisson steps), the organisers'
models from ``[references]`` with the scenario's overrides (their Opacus loaders: ``epochs × round(1/q)``
steps, MICO's CIFAR-10 50 × 98 = 4,900, Purchase-100 30 × 293 = 8,790, SST-2 3 × 66 = 198). In both,
q = batch / n with n the scenario's training-set size, and σ is what the recipe's accountant gives for
the scenario's (ε, δ) at that q and number of epochs (``toolkit.models.training.noise_multiplier``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from importlib import metadata

from toolkit.errors import ConfigError
from toolkit.metrics import FPR_GRID, metric_key
from toolkit.privacy import ADJACENCY, DISCRETIZATION, cached_ceiling
from toolkit.tracks import Scenario, Track
from toolkit.training_tables import References

__all__ = ["DPRecipe", "dp_recipe", "noise_multiplier_of", "recipe_ceiling"]


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
    if track.build is not None:
        refs, source = References.from_build(track.build), "build"
    else:
        refs, source = track.references_of(scenario), "references"
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


def noise_multiplier_of(recipe: DPRecipe) -> float:
    """σ for the recipe's (ε, δ) from its accountant: the trainer's own search, cached on disk per setting."""
    from toolkit.models.training import noise_multiplier

    r = recipe
    try:
        return noise_multiplier(r.epsilon, r.delta, r.sample_rate, r.epochs, r.accountant)
    except ValueError as exc:  # Opacus: "The privacy budget is too low." where no σ up to its cap reaches ε
        raise ConfigError(f"no noise multiplier reaches ε={r.epsilon:g} at q={r.sample_rate:.4g}: {exc}") from None


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "(not installed)"


def recipe_ceiling(track: Track, scenario: Scenario, fprs=FPR_GRID) -> dict | None:
    """The manifest's ``dp_ceiling`` entry of a DP scenario (None otherwise): its recipe (q, T, σ, δ, ε),
    the TPR ceiling at each of ``fprs`` keyed as the scorer's figures (``TPR_FPR_1000`` for 10%), and
    the library that computed it."""
    recipe = dp_recipe(track, scenario)
    if recipe is None:
        return None
    sigma = noise_multiplier_of(recipe)
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
