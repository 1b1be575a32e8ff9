"""The variants of each registered attack worth comparing by default (evaluate, ``recipe = "auto"``),
and the scores fed to the stackers, both as each family registered them (``registry.register``).

The first variant of a family is its default.
"""

from __future__ import annotations

from collections.abc import Iterable

from toolkit.attacks.registry import attack_names, attack_spec, check_attack_names
from toolkit.errors import ConfigError
from toolkit.tracks import Recipe

__all__ = ["VARIANTS", "default_recipes", "stacker_recipes"]  # noqa: F822 (VARIANTS: built on first use, below)


def __getattr__(name: str):
    """``VARIANTS``, {family: [params, …]}, is read on first use: the registry imports every attack to build it."""
    if name == "VARIANTS":
        return {n: [dict(v) for v in attack_spec(n).variants] for n in attack_names()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def default_recipes(names: Iterable[str] | None = None) -> list[Recipe]:
    """Recipes for ``names`` (default: every registered attack), with their default variants."""
    return [Recipe(name, dict(params)) for name in check_attack_names(names) for params in attack_spec(name).variants]


def stacker_recipes() -> tuple[Recipe, ...]:
    """The recipes whose scores are the stackers' reference features, in column order (0, 1, …)."""
    columns = {c: Recipe(n, dict(p)) for n in attack_names() for c, p in attack_spec(n).stacker_features.items()}
    if sorted(columns) != list(range(len(columns))):
        raise ConfigError(f"the stacker feature columns {sorted(columns)} are not 0…{len(columns) - 1}")
    return tuple(columns[c] for c in range(len(columns)))
