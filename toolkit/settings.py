"""Settings tables as data: known keys of the right types, or one ``ConfigError`` line that names the key.

``track.toml``'s tables (``toolkit.tracks``) and a task's ``[files]``/``[upload]`` (``toolkit.task_format``)
are checked here, so a typo or a wrong type never passes silently and a stranger's file is echoed only
in short, one-line pieces.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from toolkit.errors import ConfigError, one_line

__all__ = ["listed", "shown", "accepts", "check_types", "table", "reject_unknown", "settings_parser"]


def listed(keys, limit: int = 10) -> str:
    """A stranger's keys for a one-line message: the first ``limit``, each cut to 40 characters, and a count."""
    keys = sorted(str(k) for k in keys)
    text = ", ".join(one_line(k, 40) for k in keys[:limit])
    return text + (f", … and {len(keys) - limit} more" if len(keys) > limit else "")


_WHAT = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def shown(value: Any) -> str:
    """A TOML value as an error shows it: its repr, short and on one line."""
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def accepts(kind, value: Any) -> bool:
    """Does ``value`` (as tomllib gives it) fit the field type ``kind``? Composite types are checked where
    they are built (recipes, tables), so they pass here."""
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        return any(accepts(k, value) for k in typing.get_args(kind))
    if kind is type(None):
        return value is None
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind in (str, bool):
        return isinstance(value, kind)
    return True


def check_types(data: Mapping[str, Any], cls, where: str) -> None:
    """Every key's value has its field's type: ``m = "100"`` is an error here, not a crash far downstream."""
    hints = typing.get_type_hints(cls)
    for key, value in data.items():
        kind = hints.get(key)
        if kind is not None and not accepts(kind, value):
            names = [_WHAT[k] for k in (typing.get_args(kind) or (kind,)) if k in _WHAT]
            raise ConfigError(f"{where}: {key} must be {' or '.join(names) or 'a table'}, got {shown(value)}")


def table(data: Any, where: str) -> Mapping[str, Any]:
    """``data`` if it is a table, else one line naming ``where``."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a table, got {shown(data)}")
    return data


def reject_unknown(data: Mapping[str, Any], cls, where: str, extra: tuple[str, ...] = ()) -> None:
    """A key that is not a field of ``cls`` (nor in ``extra``) is one line listing the known keys."""
    known = {f.name for f in fields(cls)} | set(extra)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {listed(unknown)}; known keys: {', '.join(sorted(known))}")


def settings_parser(cls):
    """A parser of a settings table of plain keys into ``cls``: known keys of the right types."""

    def parse(data: Any, where: str):
        reject_unknown(table(data, where), cls, where)
        check_types(data, cls, where)
        return cls(**data)

    return parse
