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

The contract's defaults are filled in one place (``_defaults``), for ``run_attack`` and for a direct
call alike: no references arrive as ``ref`` [0, *target.shape] and ``keep`` [0, n_points], so an
attack computes its documented fallback from empty arrays and never tests for them; ``groups=None``
arrives as one target.

Each module registers its family with what the rest of the toolkit needs to know about it
(``AttackSpec``): its variants worth comparing, its simplicity, the tuning range of every keyword
parameter (or ``FIXED``), whether it reads reference models, and which of its variants feed the
stackers. A missing fact is an error at import, naming the attack.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from toolkit.errors import ConfigError, ContractError
from toolkit.registry import Registry
from toolkit.signals import check_keep, check_labels, check_logits, check_scores

__all__ = [
    "register",
    "get_attack",
    "attack_names",
    "attack_spec",
    "check_attack_names",
    "run_attack",
    "AttackSpec",
    "Choice",
    "FloatRange",
    "IntRange",
    "FIXED",
    "BOOL",
    "SIGNAL",
    "TEMPERATURE",
    "N_ESTIMATORS",
    "LEARNING_RATE",
    "BASE_ARGS",
]

BASE_ARGS = ("target", "labels", "ref", "keep", "groups", "seed")
FIXED = "fixed"  # a keyword parameter never tuned: it stays at its default (or is a data argument)


@dataclass(frozen=True)
class Choice:
    """A parameter tuned over these values."""

    values: tuple


@dataclass(frozen=True)
class FloatRange:
    """A float parameter tuned in [low, high] (log-uniform where ``log``)."""

    low: float
    high: float
    log: bool = False


@dataclass(frozen=True)
class IntRange:
    """An int parameter tuned in [low, high] (log-uniform where ``log``); kept small so a trial stays cheap."""

    low: int
    high: int
    log: bool = False


# ranges shared by several families
BOOL = Choice((True, False))
SIGNAL = Choice(("loss", "confidence", "phi", "margin", "modified_entropy"))  # the signals worth searching
TEMPERATURE = FloatRange(0.5, 4.0, log=True)
N_ESTIMATORS = IntRange(50, 300, log=True)
LEARNING_RATE = FloatRange(0.01, 0.3, log=True)
Tuning = Choice | FloatRange | IntRange | str


@dataclass(frozen=True)
class AttackSpec:
    """What the toolkit knows about a family besides its function (``register``'s arguments)."""

    name: str
    simplicity: int  # how much machinery over a loss threshold (0); ties in a CI go to the lower number
    needs_references: bool  # False: the score never reads ``ref`` (one candidate, with or without them)
    tuning: Mapping[str, Tuning]  # every keyword parameter: its range, or FIXED
    variants: tuple[Mapping, ...]  # the variants worth comparing; the first is the family's default
    stacker_features: Mapping[int, Mapping]  # {column: variant}: scores fed to the stackers, in column order


def _modules() -> list[str]:
    """Every module of ``toolkit.attacks`` but this one: each registers its families."""
    import pkgutil
    from pathlib import Path

    package = __name__.rsplit(".", 1)[0]
    found = pkgutil.iter_modules([str(Path(__file__).parent)])
    return [f"{package}.{i.name}" for i in found if i.name != "registry"]


_ATTACKS = Registry("attack", _modules)
_SPECS: dict[str, AttackSpec] = {}


def register(
    name: str,
    *,
    simplicity: int | None = None,
    needs_references: bool | None = None,
    tuning: Mapping[str, Tuning] | None = None,
    variants: Iterable[Mapping] = ({},),
    stacker_features: Mapping[int, Mapping] | None = None,
):
    """Decorator: make an attack available by ``name`` (a name is registered once), with its facts.

    ``simplicity``, ``needs_references`` and a ``tuning`` entry for every keyword parameter are
    required; ``variants`` defaults to the family's defaults alone, ``stacker_features`` to none.
    """

    def deco(fn: Callable) -> Callable:
        if name in _SPECS:  # a name is refused before its facts are read
            raise ConfigError(f"attack {name!r} registered twice", "give the new one another name")
        spec = _spec(name, fn, simplicity, needs_references, tuning or {}, variants, stacker_features or {})

        @functools.wraps(fn)
        def attack(target, labels, ref, keep, *, groups=None, **params):
            ref, keep, groups = _defaults(np.shape(target), ref, keep, groups)
            return fn(target, labels, ref, keep, groups=groups, **params)

        _ATTACKS.register(name)(attack)
        _SPECS[name] = spec
        return attack

    return deco


def _spec(name, fn, simplicity, needs_references, tuning, variants, stacker_features) -> AttackSpec:
    """The facts checked against ``fn``'s signature: the first one missing or wrong raises, naming the attack."""

    def fail(fact: str):
        raise ConfigError(f"attack {name!r} is registered {fact}")

    variants = tuple(dict(v) for v in variants)
    if not variants:
        fail("with no variants (give at least {}, its defaults)")
    if not isinstance(simplicity, int) or isinstance(simplicity, bool):
        fail("without simplicity (an int, lower = simpler: threshold 0 … ensemble 5)")
    if not isinstance(needs_references, bool):
        fail("without needs_references (True or False)")
    params = _keyword_params(fn)
    for p, default in params.items():
        if p not in tuning:
            fail(f"without a tuning range for parameter {p!r} (give a Choice, FloatRange, IntRange or FIXED)")
        if not _fits(tuning[p], default):
            fail(f"with tuning {tuning[p]!r} for parameter {p!r}, which does not fit its default {default!r}")
    named = [("tuning", tuning)] + [(f"variant {v}", v) for v in (*variants, *stacker_features.values())]
    for fact, keys in named:
        unknown = sorted(set(keys) - set(params))
        if unknown:
            fail(f"with {fact} naming no parameter of it: {', '.join(unknown)}")
    taken = {c: s.name for s in _SPECS.values() if s.name != name for c in s.stacker_features}
    for column in stacker_features:
        if column in taken:
            fail(f"with stacker feature column {column}, already {taken[column]!r}'s")
    features = {c: dict(v) for c, v in stacker_features.items()}
    return AttackSpec(name, simplicity, needs_references, dict(tuning), variants, features)


def _fits(tuning: Tuning, default) -> bool:
    if tuning == FIXED or isinstance(tuning, Choice):
        return True
    if isinstance(default, bool) or default is None:
        return False
    return isinstance(default, float if isinstance(tuning, FloatRange) else int)


def _keyword_params(fn: Callable) -> dict[str, object]:
    sig = inspect.signature(fn)
    return {k: p.default for k, p in sig.parameters.items() if k not in BASE_ARGS and p.kind is p.KEYWORD_ONLY}


def attack_names() -> list[str]:
    """Every registered attack family, sorted."""
    return _ATTACKS.names()


def get_attack(name: str) -> Callable:
    """The attack registered as ``name``; an unknown name lists the valid ones."""
    return _ATTACKS.get(name)


def attack_spec(name: str) -> AttackSpec:
    """The facts registered with the attack ``name``; an unknown name lists the valid ones."""
    _ATTACKS.get(name)
    return _SPECS[name]


def check_attack_names(names: Iterable[str] | None) -> list[str]:
    """``names`` (None or empty: every registered attack), each checked, without repeats."""
    return _ATTACKS.check(names) if names else attack_names()


def attack_params(name: str) -> dict[str, object]:
    """The tunable keyword parameters of an attack and their defaults."""
    return _keyword_params(get_attack(name))


def _defaults(target_shape: tuple, ref, keep, groups):
    """The contract's defaults: no references → ``ref`` [0, *target_shape] and ``keep`` [0, n_points];
    no ``groups`` → every row from one target. Anything else is returned as given."""
    n_points = target_shape[0]
    if np.asarray(ref).size == 0:
        ref = np.zeros((0, *target_shape), dtype=np.float32)
    if np.asarray(keep).size == 0 and np.shape(ref)[0] == 0:
        keep = np.zeros((0, n_points), dtype=bool)
    if groups is None:
        groups = np.zeros(n_points, dtype=np.int64)
    return ref, keep, groups


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
    ref, keep, groups = _defaults(target.shape, ref, keep, groups)
    ref = check_logits(ref, "reference logits", ndim=4)
    if ref.shape[1:] != target.shape:
        raise ContractError(
            f"reference logits {ref.shape} do not match target {target.shape}: expected "
            f"[n_ref, {', '.join(map(str, target.shape))}] (models first)"
        )
    keep = check_keep(keep, ref.shape[0], n_points)
    groups = np.asarray(groups)
    if groups.shape != (n_points,):
        raise ContractError(f"groups must be [n_points={n_points}], got {groups.shape}")
    scores = fn(target, labels, ref, keep, groups=groups, seed=seed, **params)
    return check_scores(scores, n_points, f"scores of attack {name!r}")
