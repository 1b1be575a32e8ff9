"""The command line as a newcomer meets it: every option explained, a fast start, the README's list true.

- every option of every command has help text;
- ``mia --help`` and ``mia check --format-only`` import neither scikit-learn, Optuna nor torch (the
  commands import what they need when they run), checked in a fresh interpreter;
- the README's list of ``mia`` commands is the click tree's, and each command has an example there;
- an option that the track's kind does not use is refused in one line, not ignored.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from toolkit.cli import cli

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("sklearn", "optuna", "torch", "scipy", "pandas")


def _commands(group: click.Group = cli, prefix: str = "") -> dict[str, click.Command]:
    """{'outputs': …, 'challenge build': …}: every leaf command, by its full name."""
    out = {}
    for name, cmd in group.commands.items():
        full = f"{prefix}{name}"
        if isinstance(cmd, click.Group):
            out.update(_commands(cmd, full + " "))
        else:
            out[full] = cmd
    return out


def test_every_option_has_help():
    missing = [
        f"mia {name} {max(p.opts, key=len)}"
        for name, cmd in _commands().items()
        for p in cmd.params
        if isinstance(p, click.Option) and not (p.help or "").strip()
    ]
    assert missing == []


def _modules_after(*args: str) -> set[str]:
    code = (
        "import json, sys\n"
        "from toolkit.cli import cli\n"
        f"try:\n    cli({list(args)!r}, prog_name='mia')\n"
        "except SystemExit:\n    pass\n"
        "print(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


@pytest.mark.parametrize("args", [("--help",), ("check", "no_such.zip", "--format-only")], ids=["help", "check"])
def test_a_start_imports_nothing_heavy(args):
    assert sorted(set(HEAVY) & _modules_after(*args)) == []


def _readme_examples() -> list[tuple[str, str]]:
    """(command, example line) for each ``mia …`` line of the README's section "Every command"."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Every command", 1)[1].split("\n## ", 1)[0]
    names = _commands()
    out = []
    for line in re.findall(r"^(?:[A-Z_]+=\S+ )?mia (.*)$", section, re.M):
        words = line.split()
        out.append((" ".join(words[:2]) if " ".join(words[:2]) in names else words[0], line))
    return out


def test_the_readme_lists_every_command_with_an_example():
    assert {name for name, _ in _readme_examples()} == set(_commands())


def test_the_readme_examples_use_real_options():
    commands = _commands()
    wrong = []
    for name, line in _readme_examples():
        flags = {o for p in commands[name].params for o in getattr(p, "opts", [])}
        code = line.split("#", 1)[0]
        wrong += [f"mia {name}: {tok}" for tok in re.findall(r"(?<!\S)(--?[a-z][\w-]*)", code) if tok not in flags]
    assert wrong == []


def test_a_kind_refuses_an_option_it_does_not_use():
    result = CliRunner().invoke(cli, ["submit", "--track", "resnet18", "--train-models", "4"])
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 1 and len(lines) == 1, result.output
    assert lines[0].startswith("Error:") and "--train-models" in lines[0] and "resnet18" in lines[0]


@pytest.mark.parametrize("command", ["evaluate", "tune", "outputs"])
def test_a_kind_without_a_command_says_so(command):
    result = CliRunner().invoke(cli, [command, "--track", "resnet18"])
    assert result.exit_code == 1 and f"has no '{command}' command; its commands: submit" in result.output


def test_every_link_of_the_readme_and_docs_is_a_file_here():
    """The README leads to docs/ and benchmarks/: each relative link names a file of this repository."""
    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md"]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" not in target and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert broken == []
