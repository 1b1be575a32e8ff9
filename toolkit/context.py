"""Track kinds: the one place where a track's ``kind`` decides which code runs.

A kind names one module that implements its commands. Each such module defines

- ``LEADERBOARD_FPR``: the FPR of the figure its leaderboard ranks by (strict TPR at FPR < x);
- ``COMMANDS``: ``{command name: function(ctx, **options) -> str}``, the text the command prints;
  each function says which fields of the run ``Context`` it reads with ``@reads(...)``, and takes
  its own options as keyword arguments;
- ``open_scenario(ctx, scenario)`` where its tracks have scenarios (``Context.open``);
- the settings tables its ``track.toml`` may have (``KIND_TABLES`` below, validated by ``tracks``).

Nothing else in the toolkit asks which kind a track is: it calls ``run(name, ctx, ...)`` or reads
``kind_module(track)``. An option the user gave that the kind's command does not read is refused
with one line, never ignored. Adding a kind is a new module and one line in ``KIND_MODULES``.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import ModuleType
from typing import Any

from toolkit.errors import ConfigError

__all__ = [
    "KINDS",
    "KIND_MODULES",
    "KIND_TABLES",
    "Context",
    "reads",
    "kind_module",
    "command",
    "command_names",
    "run",
    "leaderboard_fpr",
]

KIND_MODULES = {"mico": "toolkit.mico.kind", "tml": "toolkit.tml.kind"}
KINDS = tuple(KIND_MODULES)
# The optional settings tables of each kind's track.toml: [build] builds a local MICO challenge,
# [shadow] says how to train shadow models for a task that ships none, [files] and [upload] are a
# public/private task's files and scoring server.
KIND_TABLES = {"mico": ("build", "references"), "tml": ("shadow", "files", "upload")}


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
        opener = getattr(kind_module(self.track), "open_scenario", None)
        if opener is None:
            raise ConfigError(f"track {self.track.name!r} (kind {self.track.kind}) has no scenarios to open")
        return opener(self, scenario)

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


def kind_module(track) -> ModuleType:
    """The module implementing ``track.kind``."""
    if track.kind not in KIND_MODULES:
        raise ConfigError(f"track {track.name!r}: unknown kind {track.kind!r}; valid: {', '.join(KINDS)}")
    return importlib.import_module(KIND_MODULES[track.kind])


def command_names(track) -> tuple[str, ...]:
    """The commands ``track``'s kind has."""
    return tuple(kind_module(track).COMMANDS)


def command(track, name: str) -> Callable[..., str]:
    """The function running command ``name`` for ``track``'s kind; a kind without it says which it has."""
    commands = kind_module(track).COMMANDS
    if name not in commands:
        raise ConfigError(
            f"track {track.name!r} (kind {track.kind}) has no {name!r} command; its commands: {', '.join(commands)}"
        )
    return commands[name]


def _own_options(fn: Callable) -> set[str]:
    return {p.name for p in inspect.signature(fn).parameters.values() if p.kind is p.KEYWORD_ONLY}


def run(name: str, ctx: Context, given: Mapping[str, str] | None = None, **options) -> str:
    """Run command ``name`` of ``ctx.track``'s kind with its own ``options``; return the text to print.

    ``given`` maps each option the user set explicitly (a ``Context`` field or an own option) to the
    flag they typed; one the kind's command does not read is refused with one line. Own options
    the command does not take, left at their defaults, are dropped.
    """
    fn = command(ctx.track, name)
    own = _own_options(fn)
    used = own | set(getattr(fn, "reads", ()))
    unused = [flag for opt, flag in (given or {}).items() if opt not in used]
    if unused:
        raise ConfigError(
            f"track {ctx.track.name!r} (kind {ctx.track.kind}) does not use {', '.join(unused)} in `mia {name}`; "
            "leave it out"
        )
    return fn(ctx, **{k: v for k, v in options.items() if k in own})


def leaderboard_fpr(track) -> float:
    """The FPR of the figure ``track``'s leaderboard ranks by (its kind's ``LEADERBOARD_FPR``)."""
    return float(kind_module(track).LEADERBOARD_FPR)
