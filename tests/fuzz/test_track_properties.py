"""track.toml from a stranger: a ``Track`` whose values have their types and sizes, or one ``ConfigError`` line.

The parsed form is fuzzed (a valid track with keys dropped, added, or given values of any TOML
type) and so is the file (a valid track.toml damaged byte by byte, then ``load_track``).
"""

from __future__ import annotations

import copy
import math

from fuzz_contract import mutate, outcome
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.errors import ConfigError
from toolkit.tracks import Track, load_track, parse_track, tracks_dir

BASE = {
    "track": {
        "name": "x",
        "task": "x",
        "kind": "mico",
        "dataset": "demo",
        "architecture": "demo_mlp",
        "n_classes": 10,
        "population_size": 1797,
        "len_training": 500,
        "m": 100,
        "baseline": {"attack": "threshold", "signal": "loss"},
    },
    "build": {"train_models": 4, "epochs": 2, "lr": 0.1},
    "scenarios": {
        "x_inf": {"epsilon": math.inf, "recipe": {"attack": "hardness", "signal": "loss"}},
        "x_lo": {"epsilon": 4.0, "population_size": 1000},
    },
}
SECTIONS = [
    ("track",),
    ("build",),
    ("scenarios",),
    ("scenarios", "x_inf"),
    ("scenarios", "x_lo"),
    ("scenarios", "x_inf", "recipe"),
    ("track", "baseline"),
    (),
]
KEYS = [
    "name",
    "task",
    "kind",
    "dataset",
    "architecture",
    "n_classes",
    "population_size",
    "len_training",
    "m",
    "epsilon",
    "recipe",
    "attack",
    "folder",
    "baseline",
    "epochs",
    "lr",
    "shadow",
    "build",
    "track",
    "scenarios",
    "unknown",
    "path",
]
toml_values = st.recursive(
    st.one_of(
        st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=True),
        st.booleans(),
        st.text(max_size=10),
        st.sampled_from(["mico", "tml", "demo", "threshold"]),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)),
    max_leaves=6,
)
edits = st.lists(
    st.tuples(st.sampled_from(SECTIONS), st.sampled_from(KEYS), st.one_of(st.none(), toml_values)),
    min_size=1,
    max_size=4,
)


def _edited(ops) -> dict:
    """BASE with (section, key, value) edits: None deletes the key; a section that is no table is left alone."""
    data = copy.deepcopy(BASE)
    for section, key, value in ops:
        table = data
        for part in section:
            table = table.get(part) if isinstance(table, dict) else None
        if not isinstance(table, dict):
            continue
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
    return data


def _well_formed(track: Track) -> None:
    """What every accepted track promises the stages downstream."""
    for s in track.scenarios:
        N, n, m = track.population_size_of(s), track.len_training_of(s), track.m
        assert all(isinstance(v, int) and not isinstance(v, bool) for v in (N, n, m, track.n_classes_of(s)))
        assert 0 < 2 * m <= N and m <= n <= N - m
        assert isinstance(s.epsilon, float) and s.epsilon > 0
        assert isinstance(s.recipe.attack, str)
    assert all(isinstance(getattr(track, f), str) for f in ("name", "task", "kind", "dataset", "architecture"))


@settings(max_examples=300)
@given(ops=edits)
def test_a_parsed_track_is_well_formed_or_one_config_error(ops):
    track, err = outcome(parse_track, _edited(ops), "x/track.toml", names=("x/track.toml",))
    if err is None:
        _well_formed(track)
    else:
        assert isinstance(err, ConfigError)


@settings(max_examples=100)
@given(
    name=st.sampled_from(["demo", "purchase100", "resnet18", "ddp"]),
    ops=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 5000), st.integers(0, 255)), min_size=1, max_size=4),
)
def test_a_damaged_track_file_loads_well_formed_or_one_config_error(tmp_path_factory, name, ops):
    root = tmp_path_factory.mktemp("tracks")
    (root / name).mkdir()
    path = root / name / "track.toml"
    path.write_bytes(mutate((tracks_dir() / name / "track.toml").read_bytes(), ops))
    track, err = outcome(load_track, name, root, names=(str(path),))
    if err is None:
        _well_formed(track)
    else:
        assert isinstance(err, ConfigError)


@settings(max_examples=60)
@given(name=st.text(max_size=20))
def test_any_track_name_is_a_track_or_one_config_error(tmp_path_factory, name):
    root = tmp_path_factory.mktemp("tracks")
    track, err = outcome(load_track, name, root)
    assert track is None and isinstance(err, ConfigError)  # the folder is empty: nothing is a track


big_values = st.one_of(
    st.integers(2**63, 2**300).map(lambda v: v * (-1) ** (v % 2)),
    st.integers(1, 200_000).map(lambda n: "x" * n),
    st.integers(1, 20_000).map(lambda n: list(range(n))),
    st.integers(1, 300).map(lambda d: __import__("functools").reduce(lambda acc, _: [acc], range(d), 1)),
    st.integers(1, 2000).map(lambda n: {f"k{i}": i for i in range(n)}),
)


@settings(max_examples=80)
@given(
    ops=st.lists(st.tuples(st.sampled_from(SECTIONS), st.sampled_from(KEYS), big_values), min_size=1, max_size=3),
    scenarios=st.integers(0, 400),
)
def test_a_track_of_huge_values_or_many_scenarios_is_well_formed_or_one_config_error(ops, scenarios):
    data = _edited(ops)
    if isinstance(data.get("scenarios"), dict):
        data["scenarios"].update({f"x_{i}": {"epsilon": 1.0 + i} for i in range(scenarios)})
    track, err = outcome(parse_track, data, "x/track.toml", names=("x/track.toml",))
    if err is None:
        _well_formed(track)
    else:
        assert isinstance(err, ConfigError) and len(str(err)) < 5000  # a huge value is never echoed whole


@settings(max_examples=20)
@given(depth=st.integers(1, 100_000), kind=st.sampled_from(["[", "{ a = "]), pad=st.integers(0, 2 << 20))
def test_a_deeply_nested_or_oversized_track_file_is_one_config_error(tmp_path_factory, depth, kind, pad):
    root = tmp_path_factory.mktemp("tracks")
    (root / "x").mkdir()
    path = root / "x" / "track.toml"
    path.write_text(f"x = {kind * depth}\n" + "#" * pad)
    track, err = outcome(load_track, "x", root, names=(str(path),))
    assert track is None and isinstance(err, ConfigError)
