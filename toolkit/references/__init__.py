"""Reference models: every model the toolkit trains to compare a target with, and the one runner that trains them.

``plan`` says which rows each reference trains on (keep masks, pooled and matched plans), ``training``
builds a ``TrainConfig`` from a track's training table, ``folder`` names and claims a shadow folder by
its settings, ``runner`` trains task lists (many at once, resumable, within a time budget), ``check`` compares trained
references with the target.
"""

from __future__ import annotations

__all__: list[str] = []  # a package of rooms: import its modules by name
