"""Track kinds' commands: the one place where a track's ``kind`` decides which command runs.

Each kind has a module here (``mico``, ``tml``) that defines ``COMMANDS``: ``{command name:
function(ctx, **options) -> str}``, the text the command prints. Each function says which fields of
the run ``Context`` it reads with ``@reads(...)`` and takes its own options as keyword arguments.
These modules sit above every room they use (the kind's stages, studies, tuning, its report); the
facts that rooms below need (tables, leaderboard FPR, how a scenario opens) are in
``toolkit.context``. An option the user gave that the kind's command does not read is refused with
one line, never ignored. Adding a kind is a module here, one line in ``KIND_MODULES`` and its facts.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from types import ModuleType

from toolkit.context import Context, kind_of
from toolkit.errors import ConfigError

__all__ = ["KIND_MODULES", "kind_module", "command", "command_names", "run"]

KIND_MODULES = {"mico": "toolkit.kinds.mico", "tml": "toolkit.kinds.tml"}


def kind_module(track) -> ModuleType:
    """The module holding ``track.kind``'s commands."""
    kind_of(track)  # an unknown kind is refused here, in one line
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
