"""One small registry for things looked up by name: attacks, datasets, architectures.

Every registry has the same rules: a name is registered once (a second, different object under a
name already taken is refused), an unknown name is refused with the valid ones listed, and the
modules that register the built-in entries are imported on first use; one that is missing is
named, never skipped.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable

from toolkit.errors import ConfigError

__all__ = ["Registry"]


class Registry:
    """``what`` names the entries in messages; ``modules()`` gives the modules that register the built-in ones."""

    def __init__(self, what: str, modules: Callable[[], Iterable[str]]):
        self.what = what
        self._modules = modules
        self._entries: dict[str, Callable] = {}
        self._loaded = False

    def register(self, name: str) -> Callable[[Callable], Callable]:
        """Decorator: make ``fn`` available under ``name``."""

        def deco(fn: Callable) -> Callable:
            if self._entries.get(name, fn) is not fn:
                raise ConfigError(f"{self.what} {name!r} registered twice", "give the new one another name")
            self._entries[name] = fn
            return fn

        return deco

    def load(self) -> None:
        """Import every module that registers built-in entries (once); a missing one is an error naming it."""
        if self._loaded:
            return
        for module in self._modules():
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:
                if exc.name != module:
                    raise
                raise ConfigError(
                    f"the {self.what} module {module} is missing", "reinstall the toolkit (pip install -e .)"
                ) from None
        self._loaded = True

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        self.load()
        return sorted(self._entries)

    def get(self, name: str) -> Callable:
        """The entry under ``name``; an unknown name lists the valid ones."""
        self.load()
        if name not in self._entries:
            raise ConfigError(f"unknown {self.what} {name!r}; valid {self.what}s: {', '.join(sorted(self._entries))}")
        return self._entries[name]

    def check(self, names: Iterable[str]) -> list[str]:
        """``names`` stripped, without blanks or repeats, each known (every unknown one listed at once)."""
        names = list(dict.fromkeys(n.strip() for n in names if n.strip()))
        unknown = [n for n in names if n not in self.names()]
        if unknown:
            valid = ", ".join(self.names())
            raise ConfigError(f"unknown {self.what}(s) {', '.join(unknown)}; valid {self.what}s: {valid}")
        return names
