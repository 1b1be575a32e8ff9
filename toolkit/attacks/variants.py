"""The variants of each registered attack worth comparing by default (evaluate, ``recipe = "auto"``).

Any registered attack not listed here runs with its defaults. The first variant of a family is its
default.
"""

from __future__ import annotations

from collections.abc import Iterable

from toolkit.attacks.registry import attack_params, check_attack_names
from toolkit.tracks import Recipe

__all__ = ["VARIANTS", "default_recipes"]

VARIANTS: dict[str, list[dict]] = {
    "threshold": [{"signal": "loss"}, {"signal": "modified_entropy"}],
    "hardness": [
        {"formula": "in"},
        {"formula": "mid"},
        {"formula": "z"},
        {"formula": "gap"},
        {"formula": "mid", "pool": "class"},
    ],
    "lira": [
        {},
        {"fix_variance": False},
        {"online": False},
        {"online": False, "two_sided": True},
        {"pool": "class"},
    ],
    "rmia": [{}, {"offline": False}],
    "ensemble": [{}],
    "base": [{}, {"online": False}],
    "bavaria": [{}, {"variant": "n"}, {"online": False}, {"variant": "n", "online": False}],
    "informia": [{}, {"offline": False}],
    "quantile": [{}, {"level": 0.99}],
    "rapid": [{}],
}


def default_recipes(names: Iterable[str] | None = None) -> list[Recipe]:
    """Recipes for ``names`` (default: every registered attack), with their default variants."""
    out = []
    for name in check_attack_names(names):
        known = attack_params(name)
        for params in VARIANTS.get(name, [{}]):
            out.append(Recipe(name, {k: v for k, v in params.items() if k in known}))
    return out
