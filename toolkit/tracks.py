"""Tracks as data: ``tracks/<name>/track.toml`` read into frozen dataclasses.

Unknown keys are rejected with the list of known ones, so a typo never passes silently.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from toolkit.context import KIND_TABLES, KINDS
from toolkit.errors import ConfigError
from toolkit.io import read_bounded
from toolkit.settings import check_types, listed, reject_unknown, settings_parser, shown, table
from toolkit.task_format import TaskFiles, Upload, task_files, upload_protocol
from toolkit.training_tables import Build, References, ShadowTraining, check_training

__all__ = [
    "Recipe",
    "Build",
    "ShadowTraining",
    "References",
    "TaskFiles",
    "Upload",
    "Scenario",
    "Track",
    "tracks_dir",
    "track_dirs",
    "list_tracks",
    "load_track",
    "parse_track",
    "runs_dir",
]

_HERE = Path(__file__).resolve().parent
# An installed wheel carries the built-in tracks as package data (setup.py maps tracks/ there);
# a checkout reads them from tracks/ beside the package.
BUILTIN = _HERE / "builtin_tracks" if (_HERE / "builtin_tracks").is_dir() else _HERE.parent / "tracks"


def track_dirs() -> list[Path]:
    """Where tracks are looked up, first match wins: ``$MIA_TRACKS_DIR``, ``./tracks``, then the built-in ones."""
    dirs = [Path(os.environ["MIA_TRACKS_DIR"])] if os.environ.get("MIA_TRACKS_DIR") else []
    return dirs + [Path("tracks"), BUILTIN]


def tracks_dir() -> Path:
    """The folder of the built-in tracks."""
    return BUILTIN


def runs_dir(track: Track) -> Path:
    """``$MIA_RUNS_DIR/<track>`` (default ``runs/<track>``): the stage files of one track."""
    return Path(os.environ.get("MIA_RUNS_DIR", "runs")) / track.name


class FrozenDict(dict):
    """A read-only dict that pickles (worker processes receive tracks) and hashes."""

    def _readonly(self, *args, **kwargs):
        raise TypeError("track configuration is read-only")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _readonly

    def __hash__(self):
        return hash(tuple(sorted(self.items(), key=lambda kv: kv[0])))

    def __reduce__(self):
        return (FrozenDict, (dict(self),))


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return FrozenDict(mapping)


@dataclass(frozen=True)
class Recipe:
    """An attack name from the registry and its keyword parameters."""

    attack: str
    params: Mapping[str, Any] = field(default_factory=lambda: _frozen({}))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> Recipe:
        if not isinstance(data, Mapping):
            raise ConfigError(f'{where}: a recipe must be a table like {{ attack = "threshold" }}, got {shown(data)}')
        if "attack" not in data:
            raise ConfigError(f"{where}: a recipe needs an 'attack' key, got keys {listed(data)}")
        if not isinstance(data["attack"], str):
            raise ConfigError(f"{where}: 'attack' must be a string (an attack's name), got {shown(data['attack'])}")
        params = {k: v for k, v in data.items() if k != "attack"}
        return cls(str(data["attack"]), _frozen(params))

    def as_dict(self) -> dict[str, Any]:
        return {"attack": self.attack, **dict(self.params)}

    def label(self) -> str:
        extras = ",".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.attack}({extras})" if extras else self.attack


@dataclass(frozen=True)
class Scenario:
    """One scenario of a track: its ε, recipe, and any per-scenario overrides of the track's settings."""

    name: str
    epsilon: float = math.inf
    recipe: Recipe = field(default_factory=lambda: Recipe("threshold", _frozen({"signal": "loss"})))
    dataset: str | None = None  # overrides the track's (the ddp track mixes modalities)
    architecture: str | None = None
    n_classes: int | None = None
    population_size: int | None = None
    len_training: int | None = None
    folder: str | None = None  # the scenario's folder name under the task folder; default: name
    references: Mapping[str, Any] | None = None  # overrides of the track's [references] for this scenario

    @property
    def dp(self) -> bool:
        return math.isfinite(self.epsilon)


@dataclass(frozen=True)
class Track:
    """A track (``track.toml``): the task, its population and model settings, scenarios and baseline."""

    name: str
    task: str
    kind: str
    dataset: str
    architecture: str
    n_classes: int
    population_size: int
    len_training: int
    m: int
    scenarios: tuple[Scenario, ...]
    baseline: Recipe = field(default_factory=lambda: Recipe("threshold", _frozen({"signal": "loss"})))
    build: Build | None = None
    shadow: ShadowTraining | None = None
    references: References | None = None
    files: TaskFiles | None = None  # kind tml: the organisers' files and transform (None: the 2025 edition's)
    upload: Upload | None = None  # kind tml: the scoring server's protocol (None: the 2025 edition's)
    views: str = "orig"  # the query views its commands use unless --views says otherwise
    path: Path | None = None

    def scenario(self, name: str) -> Scenario:
        for s in self.scenarios:
            if s.name == name:
                return s
        raise ConfigError(f"unknown scenario {name!r} for track {self.name}; valid: {', '.join(self.scenario_names)}")

    @property
    def scenario_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.scenarios)

    # Per-scenario values fall back to the track's.
    def dataset_of(self, s: Scenario) -> str:
        return s.dataset or self.dataset

    def architecture_of(self, s: Scenario) -> str:
        return s.architecture or self.architecture

    def n_classes_of(self, s: Scenario) -> int:
        return s.n_classes or self.n_classes

    def population_size_of(self, s: Scenario) -> int:
        return s.population_size or self.population_size

    def len_training_of(self, s: Scenario) -> int:
        return s.len_training or self.len_training

    def references_of(self, s: Scenario) -> References | None:
        """The reference recipe of a scenario: [references] (or, for a local challenge, its [build]) and the
        scenario's overrides; None where the track has neither table."""
        base = self.references or (References.from_build(self.build) if self.build else None)
        if base is None or not s.references:
            return base
        return replace(base, **s.references)


_TRACK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _check_sizes(track: Track, where: str) -> None:
    """Sizes the seeds can draw from: 0 < 2m ≤ N and m ≤ n ≤ N − m for every scenario, positive class counts."""
    for s in track.scenarios:
        N, n, m, c = track.population_size_of(s), track.len_training_of(s), track.m, track.n_classes_of(s)
        if c < 1 or not (0 < 2 * m <= N and m <= n <= N - m):
            raise ConfigError(
                f"{where} [scenarios.{s.name}]: sizes n_classes={c}, population_size={N}, "
                f"len_training={n}, m={m} must satisfy n_classes ≥ 1, 0 < 2m ≤ population_size and "
                "m ≤ len_training ≤ population_size − m"
            )
        if math.isnan(s.epsilon) or s.epsilon <= 0:
            raise ConfigError(
                f"{where} [scenarios.{s.name}]: epsilon must be a positive number or inf, got {s.epsilon}"
            )


def _scenario(name: str, data: Mapping[str, Any], where: str) -> Scenario:
    data = table(data, f"{where} [scenarios.{name}]")
    reject_unknown(data, Scenario, f"{where} [scenarios.{name}]", extra=())
    check_types(data, Scenario, f"{where} [scenarios.{name}]")
    values = dict(data)
    if "name" in values:
        raise ConfigError(f"{where} [scenarios.{name}]: the scenario's name is its table name, drop 'name'")
    if "recipe" in values:
        values["recipe"] = Recipe.from_dict(values["recipe"], f"{where} [scenarios.{name}].recipe")
    if "epsilon" in values:
        values["epsilon"] = float(values["epsilon"])
    if "references" in values:
        values["references"] = _frozen(_referencestable(values["references"], f"{where} [scenarios.{name}.references]"))
    return Scenario(name=name, **values)


def _referencestable(data: Any, where: str) -> Mapping[str, Any]:
    """A [references] table (or a scenario's overrides of it): known keys of the right types."""
    data = table(data, where)
    reject_unknown(data, References, where)
    check_types(data, References, where)
    return data


def _check_references(track: Track, where: str) -> None:
    """Every scenario's reference recipe is one the trainer can run: a bad value fails at load, naming its table."""
    for s in track.scenarios:
        refs = track.references_of(s)
        if refs is None:
            continue
        if refs.count < 2 or refs.count % 2:
            raise ConfigError(f"{where} [references]: count must be an even number ≥ 2, got {refs.count}")
        try:
            check_training(refs.training(s.epsilon))
        except ConfigError as exc:
            raise ConfigError(f"{where} [references] (scenario {s.name}): {exc.args[0]}") from None


_TABLES = {
    "build": settings_parser(Build),
    "shadow": settings_parser(ShadowTraining),
    "references": settings_parser(References),
    "files": task_files,
    "upload": upload_protocol,
}


def parse_track(data: Mapping[str, Any], where: str = "track.toml", path: Path | None = None) -> Track:
    """Validate a parsed track.toml into a ``Track``: keys, types, and sizes the seeds can draw from."""
    data = table(data, where)
    reject_unknown(data, Track, where, extra=("track",))
    for section in ("track", "scenarios"):
        if section not in data:
            raise ConfigError(f"{where}: missing [{section}] table")
    head = dict(table(data["track"], f"{where} [track]"))
    allowed = {f.name for f in fields(Track)} - {"scenarios", "path", *_TABLES}
    unknown = sorted(set(head) - allowed)
    if unknown:
        raise ConfigError(
            f"{where} [track]: unknown key(s) {listed(unknown)}; known keys: {', '.join(sorted(allowed))}"
        )
    required = {"name", "task", "kind", "dataset", "architecture", "n_classes", "population_size", "len_training", "m"}
    missing = sorted(required - set(head))
    if missing:
        raise ConfigError(f"{where} [track]: missing key(s) {', '.join(missing)}")
    check_types(head, Track, f"{where} [track]")
    if head["kind"] not in KINDS:
        raise ConfigError(f"{where} [track]: kind must be one of {', '.join(KINDS)}, got {head['kind']!r}")
    if head["kind"] not in KIND_TABLES:
        raise ConfigError(f"{where} [track]: kind {head['kind']!r} has no settings tables")
    if "baseline" in head:
        head["baseline"] = Recipe.from_dict(head["baseline"], f"{where} [track].baseline")
    scenarios = tuple(_scenario(n, v, where) for n, v in table(data["scenarios"], f"{where} [scenarios]").items())
    if not scenarios:
        raise ConfigError(f"{where}: [scenarios] is empty")
    tables = {}
    for name, make in _TABLES.items():
        if name in data:
            if name not in KIND_TABLES[head["kind"]]:
                raise ConfigError(
                    f"{where}: a kind = {head['kind']!r} track has no [{name}] table; "
                    f"its tables: {', '.join(KIND_TABLES[head['kind']]) or '(none)'}"
                )
            tables[name] = make(data[name], f"{where} [{name}]")
    track = Track(scenarios=scenarios, path=path, **tables, **head)
    _check_sizes(track, where)
    _check_references(track, where)
    _check_views(track.views, f"{where} [track] views")
    return track


def _check_views(views: str, where: str) -> None:
    from toolkit.views import parse_views

    try:
        parse_views(views)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc.args[0]}") from None


def list_tracks(root: Path | None = None) -> list[str]:
    """The names of the tracks found under ``root`` (default: every folder of ``track_dirs()``)."""
    roots = [root] if root else track_dirs()
    return sorted({p.parent.name for r in roots for p in Path(r).glob("*/track.toml")})


def _find(name: str, root: Path | None) -> Path | None:
    for r in [root] if root else track_dirs():
        path = Path(r) / name / "track.toml"
        if path.is_file():
            return path
    return None


MAX_TRACK_BYTES = 1 << 20  # the shipped track.toml files are under 4 KB


def load_track(name: str, root: Path | None = None) -> Track:
    """Read ``<dir>/<name>/track.toml`` from the first of ``track_dirs()`` that has it; an unknown name lists the
    valid ones."""
    if not isinstance(name, str) or not _TRACK_NAME.fullmatch(name):
        raise ConfigError(
            f"track name {shown(name)} must be a folder name: letters, digits, '_', '-', '.'",
            f"valid tracks: {', '.join(list_tracks(root)) or '(none)'}",
        )
    path = _find(name, root)
    if path is None:
        raise ConfigError(
            f"unknown track {name!r}; valid tracks: {', '.join(list_tracks(root)) or '(none)'}",
            "add tracks/<name>/track.toml here or in $MIA_TRACKS_DIR",
        )
    raw = read_bounded(
        path,
        MAX_TRACK_BYTES,
        lambda: ConfigError(f"{path}: over {MAX_TRACK_BYTES:,} bytes, far more than a track's settings"),
    )
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}), as TOML must be") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc})") from None
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        raise ConfigError(f"{path}: arrays or tables nested too deep to be a track's settings") from None
    track = parse_track(data, str(path), path)
    if track.name != name:
        raise ConfigError(f"{path}: [track].name is {track.name!r} but the folder is {name!r}")
    return track
