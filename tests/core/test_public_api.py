"""The documented Python API: every module says what it is, every ``__all__`` name exists and has a docstring.

Data names (constants such as ``FPR_GRID``) cannot carry a docstring and are documented by the
comment beside them; functions, classes (a dataclass's generated ``Name(field, ...)`` does not
count), click commands and modules must each have their own.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import subprocess
import sys

import pytest

import toolkit

# Gaps in rooms other maintainers own (toolkit/attacks, toolkit/data), by where each is defined:
# tolerated (wherever re-exported) until written there.
KNOWN_GAPS = {
    "toolkit.attacks.registry.attack_names",
    "toolkit.attacks.registry.get_attack",
    "toolkit.data.dataset_names",
    "toolkit.data.demo.load_demo",
    "toolkit.data.purchase100.load_purchase100",
    "toolkit.data.sst2.load_sst2",
    "toolkit.data.tml.TMLTask",
    "toolkit.data.tml.load_tml",
}
NO_ALL = {"toolkit.attacks.hardness", "toolkit.attacks.shokri", "toolkit.attacks.threshold"}


def modules() -> list:
    """``toolkit`` and every module under it (one whose optional dependency is absent is skipped)."""
    out = [toolkit]
    for info in pkgutil.walk_packages(toolkit.__path__, "toolkit."):
        try:
            out.append(importlib.import_module(info.name))
        except ModuleNotFoundError as exc:
            if (exc.name or "").startswith("toolkit"):
                raise
    return out


def documented(obj) -> bool | None:
    """Whether ``obj`` has its own docstring; None for data, which cannot have one."""
    if inspect.isclass(obj):
        doc = obj.__dict__.get("__doc__") or ""
        if dataclasses.is_dataclass(obj) and doc.startswith(f"{obj.__name__}("):
            return False  # the signature dataclasses write where the class has no docstring
        return bool(doc.strip())
    if inspect.ismodule(obj) or inspect.isroutine(obj):
        return bool((obj.__doc__ or "").strip())
    if hasattr(obj, "callback") and hasattr(obj, "help"):  # a click command or group
        return bool((obj.help or "").strip())
    return None


def where(obj) -> str:
    """``module.qualname`` of the definition."""
    return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"


MODULES = modules()


@pytest.mark.parametrize("mod", MODULES, ids=lambda m: m.__name__)
def test_module_documents_its_public_names(mod):
    assert (mod.__doc__ or "").strip(), f"{mod.__name__} has no module docstring"
    if mod.__name__ in NO_ALL:
        return
    assert hasattr(mod, "__all__"), f"{mod.__name__} has no __all__"
    missing = [n for n in mod.__all__ if not hasattr(mod, n)]
    assert not missing, f"{mod.__name__}.__all__ names missing {missing}"
    objs = {n: getattr(mod, n) for n in mod.__all__}
    undocumented = [n for n, obj in objs.items() if documented(obj) is False and where(obj) not in KNOWN_GAPS]
    assert not undocumented, f"{mod.__name__}: no docstring on {undocumented}"


def test_the_top_level_api_is_lazy():
    """``import toolkit`` loads neither torch nor the pipeline; its names resolve on first use."""
    code = "import sys, toolkit; print([m for m in ('torch', 'numpy', 'toolkit.mico.pipeline') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
    from toolkit.attacks import run_attack
    from toolkit.mico.pipeline import Context

    assert toolkit.run_attack is run_attack and toolkit.Context is Context
    assert {"load_track", "get_outputs", "run_attack", "attack_names", "Context", "submit"} <= set(toolkit.__all__)
    assert set(toolkit.__all__) <= set(dir(toolkit))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        toolkit.nope  # noqa: B018 (the attribute access is the test)
