"""The one registry helper (``toolkit.registry``) and its three users keep the same rules."""

from __future__ import annotations

import pytest

from toolkit.errors import ConfigError
from toolkit.registry import Registry


def _entry():
    return None


def test_a_name_is_registered_once():
    reg = Registry("widget", lambda: [])
    reg.register("a")(_entry)
    reg.register("a")(_entry)  # the same object again (a module imported twice) is no conflict
    with pytest.raises(ConfigError, match="widget 'a' registered twice"):
        reg.register("a")(lambda: None)
    assert reg.names() == ["a"] and reg.get("a") is _entry


def test_an_unknown_name_lists_the_valid_ones():
    reg = Registry("widget", lambda: [])
    reg.register("b")(_entry)
    with pytest.raises(ConfigError, match="unknown widget 'x'; valid widgets: b"):
        reg.get("x")
    with pytest.raises(ConfigError, match=r"unknown widget\(s\) x, y; valid widgets: b"):
        reg.check(["b", "x", "y"])
    assert reg.check(["b", "b"]) == ["b"]


def test_a_missing_module_is_named_not_skipped():
    reg = Registry("widget", lambda: ["toolkit.no_such_module_here"])
    with pytest.raises(ConfigError, match="widget module toolkit.no_such_module_here is missing"):
        reg.names()


def test_a_module_missing_a_dependency_is_not_mistaken_for_a_missing_module(tmp_path, monkeypatch):
    (tmp_path / "probe_widgets.py").write_text("import no_such_dependency_here\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry("widget", lambda: ["probe_widgets"])
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_here"):
        reg.names()


@pytest.mark.parametrize(
    "module, register, what",
    [
        ("toolkit.attacks.registry", "register", "attack"),
        ("toolkit.data", "register_dataset", "dataset"),
        ("toolkit.models", "register_architecture", "architecture"),
    ],
)
def test_attacks_data_and_models_refuse_a_duplicate_name(module, register, what):
    import importlib

    mod = importlib.import_module(module)
    names = {"attack": "attack_names", "dataset": "dataset_names", "architecture": "architecture_names"}[what]
    taken = getattr(mod, names)()[0]
    with pytest.raises(ConfigError, match=f"{what} '{taken}' registered twice"):
        getattr(mod, register)(taken)(lambda *a, **k: None)
