"""The ``tml`` kind: the ResNet18 public/private task (one target, a labelled public set, ``ids,score`` CSV).

Its one stage is ``submit``: shadows (by default as many as a time budget holds), outputs,
out-of-fold validation of every candidate on the public set, the private scores of the one ranked
first (or of the recipe fixed in ``track.toml``) and the CSV, with the ``[shadow]`` recipe.
"""

from __future__ import annotations

from toolkit.context import Context, reads
from toolkit.tml.pipeline import submit_task
from toolkit.tml.report import format_validation
from toolkit.tml.settings import TMLSettings

__all__ = ["COMMANDS", "submit_task"]


@reads("data_dir", "views", "jobs", "cache_dir", "progress", "seed")
def run_submit(
    ctx: Context,
    *,
    shadows: int | None = None,
    budget_min: float | None = None,
    max_shadows: int | None = None,
    match: bool = False,
) -> str:
    """``mia submit`` for a tml track: ``submit_task`` with the run context and the command line's shadow options."""
    settings = TMLSettings.from_context(
        ctx, shadows=shadows, budget_min=budget_min, max_shadows=max_shadows, match=match
    )
    return format_validation(submit_task(settings))


COMMANDS = {"submit": run_submit}
