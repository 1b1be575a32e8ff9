"""Track kinds: the one place where a track's ``kind`` decides which code runs.

A kind names one module that implements its stages. Each such module defines

- ``LEADERBOARD_FPR``: the FPR of the figure its leaderboard ranks by (strict TPR at FPR < x);
- ``STAGES``: ``{stage name: function(track, options) -> str}``, the text a command prints;
- the settings tables its ``track.toml`` may have (``KIND_TABLES`` below, validated by ``tracks``).

Nothing else in the toolkit asks which kind a track is: it calls ``stage(track, name)`` or reads
``kind_module(track)``. Adding a kind is a new module and one line in ``KIND_MODULES``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from toolkit.errors import ConfigError

__all__ = ["KINDS", "KIND_MODULES", "KIND_TABLES", "StageOptions", "kind_module", "stage", "leaderboard_fpr"]

KIND_MODULES = {"mico": "toolkit.mico.kind", "tml": "toolkit.tml.kind"}
KINDS = tuple(KIND_MODULES)
# The optional settings tables of each kind's track.toml: [build] builds a local MICO challenge,
# [shadow] says how to train shadow models for a task that ships none.
KIND_TABLES = {"mico": ("build",), "tml": ("shadow",)}


@dataclass
class StageOptions:
    """What the user said on the command line; each kind reads the options its stages use."""

    data_dir: Path = Path("data")
    dataset_dir: Path | None = None
    jobs: int = 1
    views: tuple[str, ...] = ("orig",)
    cache_dir: Path | None = None
    scheduler: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # stage-specific options (sizes, zip path, …)


def kind_module(track) -> ModuleType:
    """The module implementing ``track.kind``."""
    if track.kind not in KIND_MODULES:
        raise ConfigError(f"track {track.name!r}: unknown kind {track.kind!r}; valid: {', '.join(KINDS)}")
    return importlib.import_module(KIND_MODULES[track.kind])


def stage(track, name: str) -> Callable[[Any, StageOptions], str]:
    """The function running stage ``name`` for ``track``'s kind; a kind without that stage says which it has."""
    stages = kind_module(track).STAGES
    if name not in stages:
        raise ConfigError(
            f"track {track.name!r} (kind {track.kind}) has no {name!r} stage; its stages: {', '.join(stages)}"
        )
    return stages[name]


def leaderboard_fpr(track) -> float:
    """The FPR of the figure ``track``'s leaderboard ranks by (its kind's ``LEADERBOARD_FPR``)."""
    return float(kind_module(track).LEADERBOARD_FPR)
