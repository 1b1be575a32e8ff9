"""Run a command through the track's kind (``toolkit.kinds.run``), with the options the user gave.

The command's parameters that name ``Context`` fields make the run context; the others are the
command's own options. Every option the user set on the command line (or through its environment
variable) is passed on as given, so a kind that does not use one refuses it instead of ignoring it.
"""

from __future__ import annotations

import click
from click.core import ParameterSource

from toolkit.context import CONTEXT_FIELDS, Context
from toolkit.kinds import run
from toolkit.tracks import load_track
from toolkit.views import parse_views

__all__ = ["run_command"]

_TYPED = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
# flags that set a Context field or an own option under another name
_RENAMED = {"quiet": "progress", "no_report": "report"}


def _flag(param: click.Parameter) -> str:
    return max(param.opts, key=len) if isinstance(param, click.Option) else param.human_readable_name


def _given() -> dict[str, str]:
    """{Context field or own option: flag} of every option the user set."""
    ctx = click.get_current_context()
    return {
        _RENAMED.get(p.name, p.name): _flag(p)
        for p in ctx.command.params
        if p.name != "track" and ctx.get_parameter_source(p.name) in _TYPED
    }


def run_command(name: str, track: str, **params) -> None:
    """Build the run context from ``params``, run command ``name`` of the track's kind, print its text."""
    fields = {k: params.pop(k) for k in list(params) if k in CONTEXT_FIELDS}
    if fields.get("views") is not None:
        fields["views"] = parse_views(fields["views"])
    else:
        fields.pop("views", None)  # the track's own views (``Context``)
    if "quiet" in params:
        fields["progress"] = not params.pop("quiet")
    text = run(name, Context(track=load_track(track), **fields), _given(), **params)
    if text:
        click.echo(text)
