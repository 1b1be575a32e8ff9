"""The rooms' import rules (README, "Where things are"), checked on the real imports of every module.

Walks each module's syntax tree, so a lazy import inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "toolkit"


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path = ROOT) -> set[str]:
    """Every module ``path`` imports (relative imports resolved), as dotted names."""
    package = _module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            found.add(mod)
            found.update(f"{mod}.{alias.name}" for alias in node.names)  # `from toolkit import outputs`
    return found


def _modules(room: str, root: Path = ROOT) -> list[Path]:
    target = root / room
    return sorted(target.rglob("*.py")) if target.is_dir() else [target.with_suffix(".py")]


def _violations(rooms: list[str], forbidden: tuple[str, ...], root: Path = ROOT) -> list[str]:
    out = []
    for room in rooms:
        for path in _modules(room, root):
            for name in sorted(imports_of(path, root)):
                if any(name == f or name.startswith(f + ".") for f in forbidden):
                    out.append(f"{path.relative_to(root.parent)} imports {name}")
    return out


RULES = [
    (
        ["attacks"],
        (
            "toolkit.outputs",
            "toolkit.models",
            "toolkit.data",
            "toolkit.cli",
            "toolkit.commands",
            "toolkit.mico",
            "toolkit.tml",
            "toolkit.tuning",
            "toolkit.studies",
            "torch",
            "click",
        ),
    ),
    (
        ["mico/package", "mico/predictions", "mico/check"],
        ("toolkit.attacks", "toolkit.outputs", "toolkit.models", "toolkit.mico.scoring"),
    ),
    (
        ["errors", "io", "signals", "metrics", "tracks", "views", "provenance"],
        (
            "toolkit.attacks",
            "toolkit.outputs",
            "toolkit.models",
            "toolkit.data",
            "toolkit.mico",
            "toolkit.tml",
            "toolkit.tuning",
            "toolkit.studies",
            "toolkit.commands",
            "toolkit.cli",
            "click",
        ),
    ),
]


@pytest.mark.parametrize("rooms, forbidden", RULES, ids=["attacks", "packager", "core"])
def test_room_imports_only_what_it_may(rooms, forbidden):
    assert _violations(rooms, forbidden) == []


def test_only_the_cli_imports_click():
    users = [p for p in ROOT.rglob("*.py") if "click" in imports_of(p)]
    allowed = {ROOT / "cli.py"} | set((ROOT / "commands").rglob("*.py"))
    assert sorted(str(p.relative_to(ROOT.parent)) for p in set(users) - allowed) == []


def test_the_walker_sees_lazy_and_relative_imports(tmp_path):
    """The rule test must be able to fail: a lazy import in a function and a relative import are both found."""
    root = tmp_path / "toolkit"
    (root / "attacks").mkdir(parents=True)
    (root / "attacks" / "probe.py").write_text("def f():\n    from ..outputs import get_outputs\n    import click\n")
    assert _violations(["attacks"], ("toolkit.outputs", "click"), root) == [
        "toolkit/attacks/probe.py imports click",
        "toolkit/attacks/probe.py imports toolkit.outputs",
        "toolkit/attacks/probe.py imports toolkit.outputs.get_outputs",
    ]


def test_no_kind_comparison_outside_the_dispatch():
    """A track's kind is decided in toolkit/kinds.py only."""
    offenders = []
    for path in ROOT.rglob("*.py"):
        if path.name == "kinds.py" and path.parent == ROOT:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                sides = [node.left, *node.comparators]
                kind = any(isinstance(n, ast.Attribute) and n.attr == "kind" for n in sides)
                if kind and any(isinstance(n, ast.Constant) and isinstance(n.value, str) for n in sides):
                    offenders.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}")
    assert offenders == []


def test_no_module_over_400_lines():
    long = {
        str(p.relative_to(ROOT.parent)): n for p in ROOT.rglob("*.py") if (n := len(p.read_text().splitlines())) > 420
    }
    assert long == {}
