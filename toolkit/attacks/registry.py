"""Attacks by name, so that recipes and Optuna pick them from a string (cf. opacus accountants).

Every registered attack has one signature (the array contract of ``toolkit.signals``)::

    attack(target, labels, ref, keep, *, groups=None, seed=0, **params) -> float64 [n_points]

- ``target``: float32 [n_points, n_views, n_classes], the target model's logits. Several targets
  may be concatenated along points (each row from its own model); ``groups`` int [n_points] then
  says which target a row belongs to, for attacks that compare points of one target.
- ``labels``: int64 [n_points].
- ``ref``: float32 [n_ref, n_points, n_views, n_classes], reference models' logits on the same
  points (may have n_ref = 0); ``keep``: bool [n_ref, n_points], their membership.
- returns scores, higher = more likely member, finite.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable

import numpy as np

from toolkit.errors import ConfigError, ContractError
from toolkit.registry import Registry
from toolkit.signals import check_keep, check_labels, check_logits, check_scores

__all__ = ["register", "get_attack", "attack_names", "check_attack_names", "run_attack", "BASE_ARGS"]

BASE_ARGS = ("target", "labels", "ref", "keep", "groups", "seed")


def _modules() -> list[str]:
    """Every module of ``toolkit.attacks`` but this one: each registers its families."""
    import pkgutil
    from pathlib import Path

    package = __name__.rsplit(".", 1)[0]
    found = pkgutil.iter_modules([str(Path(__file__).parent)])
    return [f"{package}.{i.name}" for i in found if i.name != "registry"]


_ATTACKS = Registry("attack", _modules)


def register(name: str):
    """Decorator: make an attack available by ``name`` (a name is registered once)."""
    return _ATTACKS.register(name)


def attack_names() -> list[str]:
    """Every registered attack family, sorted."""
    return _ATTACKS.names()


def get_attack(name: str) -> Callable:
    """The attack registered as ``name``; an unknown name lists the valid ones."""
    return _ATTACKS.get(name)


def check_attack_names(names: Iterable[str] | None) -> list[str]:
    """``names`` (None or empty: every registered attack), each checked, without repeats."""
    return _ATTACKS.check(names) if names else attack_names()


def attack_params(name: str) -> dict[str, object]:
    """The tunable keyword parameters of an attack and their defaults."""
    sig = inspect.signature(get_attack(name))
    return {k: p.default for k, p in sig.parameters.items() if k not in BASE_ARGS and p.kind is p.KEYWORD_ONLY}


def run_attack(name: str, target, labels, ref, keep, *, groups=None, seed: int = 0, **params) -> np.ndarray:
    """Check the contract, call the attack, check its output."""
    fn = get_attack(name)
    known = attack_params(name)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ConfigError(
            f"attack {name!r} has no parameter(s) {', '.join(unknown)}; valid: {', '.join(sorted(known)) or '(none)'}"
        )
    target = check_logits(target, "target logits", ndim=3)
    n_points = target.shape[0]
    labels = check_labels(labels, n_points, target.shape[-1])
    ref = np.asarray(ref)
    if ref.size == 0:
        ref = np.zeros((0,) + target.shape, dtype=np.float32)
    ref = check_logits(ref, "reference logits", ndim=4)
    if ref.shape[1:] != target.shape:
        raise ContractError(
            f"reference logits {ref.shape} do not match target {target.shape}: expected "
            f"[n_ref, {', '.join(map(str, target.shape))}] (models first)"
        )
    if np.asarray(keep).size == 0 and ref.shape[0] == 0:
        keep = np.zeros((0, n_points), dtype=bool)
    keep = check_keep(keep, ref.shape[0], n_points)
    if groups is None:
        groups = np.zeros(n_points, dtype=np.int64)
    groups = np.asarray(groups)
    if groups.shape != (n_points,):
        raise ContractError(f"groups must be [n_points={n_points}], got {groups.shape}")
    scores = fn(target, labels, ref, keep, groups=groups, seed=seed, **params)
    return check_scores(scores, n_points, f"scores of attack {name!r}")
