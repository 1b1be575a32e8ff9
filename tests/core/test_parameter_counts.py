"""No function of the tml kind or the CLI takes more than ten parameters: a run's settings travel as one object.

Walks each module's syntax tree (nested functions too); ``self`` and ``cls`` do not count, ``*args``
and ``**kwargs`` do. Elsewhere in the package some functions still take more (attacks with many
variant keywords, the studies): this rule covers the rooms that relay a run's settings.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROOMS = ("toolkit/tml", "toolkit/commands")
LIMIT = 10
# {"path:function": why it may take more}; each entry is a debt, listed where it is paid.
EXCEPTIONS: dict[str, str] = {}  # "path:function": why it may take more (none)


def parameters(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    """Every parameter's name, ``self`` and ``cls`` left out."""
    a = fn.args
    names = [p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
    names += [p.arg for p in (a.vararg, a.kwarg) if p is not None]
    return [n for n in names if n not in ("self", "cls")]


def too_many(source: str, where: str) -> list[str]:
    """``where:function (n parameters)`` for each function of ``source`` over ``LIMIT``."""
    return [
        f"{where}:{node.name} ({len(parameters(node))} parameters)"
        for node in ast.walk(ast.parse(source, where))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and len(parameters(node)) > LIMIT
    ]


def test_no_function_of_the_tml_kind_or_the_cli_takes_more_than_ten_parameters():
    found = [
        hit
        for room in ROOMS
        for path in sorted((ROOT / room).rglob("*.py"))
        for hit in too_many(path.read_text(), str(path.relative_to(ROOT)))
        if hit.split(" (")[0] not in EXCEPTIONS
    ]
    assert found == []


def test_every_exception_is_still_needed():
    hits = {
        hit.split(" (")[0]
        for room in ROOMS
        for path in sorted((ROOT / room).rglob("*.py"))
        for hit in too_many(path.read_text(), str(path.relative_to(ROOT)))
    }
    assert set(EXCEPTIONS) <= hits


def test_the_count_leaves_out_self_and_cls_and_counts_star_arguments():
    eleven = ", ".join(f"p{i}" for i in range(11))
    source = (
        f"def many({eleven}): pass\n"
        "class C:\n"
        "    def method(self, a, b, c, d, e, f, g, h, i, j): pass\n"
        "    @classmethod\n"
        "    def build(cls, a, b, c, d, e, f, g, h, *args, **kwargs): pass\n"
        "def outer():\n"
        f"    def inner(*, {eleven}): pass\n"
    )
    assert too_many(source, "m.py") == ["m.py:many (11 parameters)", "m.py:inner (11 parameters)"]
