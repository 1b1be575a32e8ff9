"""The run context, and the facts of each track kind that code below the kinds' commands needs.

A track's ``kind`` (``mico`` or ``tml``) says which settings tables its ``track.toml`` may have, which
FPR its leaderboard ranks by, and, for kinds with scenarios, how one is opened; those facts are
written here once. The kinds' commands are in ``toolkit.kinds`` (one module per kind, above every
room they use); nothing below them asks which kind a track is but through these facts.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from toolkit.errors import ConfigError

__all__ = [
    "KINDS",
    "KIND_FACTS",
    "KIND_TABLES",
    "Kind",
    "kind_of",
    "Context",
    "CONTEXT_FIELDS",
    "reads",
    "leaderboard_fpr",
]


@dataclass(frozen=True)
class Kind:
    """What a track kind is: its track.toml tables, its leaderboard's FPR, how a scenario opens."""

    tables: tuple[str, ...]  # the optional settings tables its track.toml may have
    leaderboard_fpr: float  # the leaderboard ranks by TPR at FPR strictly below this
    opener: str | None = None  # "module:function(ctx, scenario)" opening a scenario; None: no scenarios


# [build] builds a local MICO challenge and [references] trains references in the organisers' recipe;
# [shadow] trains shadow models for a task that ships none, [files] and [upload] are a public/private
# task's files and scoring server.
KIND_FACTS = {
    "mico": Kind(("build", "references"), 0.1, "toolkit.mico.pipeline:open_scenario"),
    "tml": Kind(("shadow", "files", "upload"), 0.05),
}
KINDS = tuple(KIND_FACTS)
KIND_TABLES = {name: kind.tables for name, kind in KIND_FACTS.items()}


def kind_of(track) -> Kind:
    """The facts of ``track.kind``; an unknown kind is refused with one line."""
    if track.kind not in KIND_FACTS:
        raise ConfigError(f"track {track.name!r}: unknown kind {track.kind!r}; valid: {', '.join(KINDS)}")
    return KIND_FACTS[track.kind]


@dataclass(kw_only=True)
class Context:
    """One run of a track: where its files are and how to run its commands (every field by name)."""

    track: Any  # a ``toolkit.tracks.Track``
    data_dir: Path = Path("data")
    dataset_dir: Path | None = None
    cache_dir: Path | None = None
    jobs: int = 1
    views: tuple[str, ...] | None = None  # None: the track's views ([track] views, default orig)
    scheduler: str | None = None
    progress: bool = True
    seed: int = 0
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage run in this process

    def __post_init__(self):
        from toolkit.views import parse_views

        self.data_dir = Path(self.data_dir)
        self.views = parse_views(getattr(self.track, "views", "orig") if self.views is None else self.views)

    def open(self, scenario):
        """One scenario's challenge files (its models, seeds and splits), as the track's kind reads them."""
        opener = kind_of(self.track).opener
        if opener is None:
            raise ConfigError(f"track {self.track.name!r} (kind {self.track.kind}) has no scenarios to open")
        module, name = opener.split(":")
        return getattr(importlib.import_module(module), name)(self, scenario)

    def paths(self, sd) -> dict:
        """The cached outputs of every model of ``sd`` (computed where missing), with this run's settings."""
        return sd.outputs(
            self.views, jobs=self.jobs, cache_dir=self.cache_dir, progress=self.progress, scheduler=self.scheduler
        )


CONTEXT_FIELDS = tuple(f.name for f in fields(Context) if f.name not in ("track", "timings"))


def reads(*names: str) -> Callable:
    """Decorator for a kind's command: the ``Context`` fields it reads (an option outside them is refused)."""
    unknown = sorted(set(names) - set(CONTEXT_FIELDS))
    if unknown:
        raise ValueError(f"not Context fields: {', '.join(unknown)}")

    def deco(fn: Callable) -> Callable:
        fn.reads = frozenset(names)
        return fn

    return deco


def leaderboard_fpr(track) -> float:
    """The FPR of the figure ``track``'s leaderboard ranks by (its kind's: MICO 10%, the ResNet18 task 5%)."""
    return kind_of(track).leaderboard_fpr
