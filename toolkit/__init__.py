"""mia-toolkit: membership-inference challenges from the organisers' files to a submission.

Library first: every CLI command (``toolkit.cli``) is a thin layer over these modules. The names
below are the pipeline from a notebook, imported on first use (``import toolkit`` stays fast)::

    import toolkit

    track = toolkit.load_track("demo")
    ctx = toolkit.Context(track=track, data_dir=data_dir)  # where the challenge's files are
    sd = ctx.open(track.scenario("demo_inf"))           # one scenario: models, seeds, splits
    final = sd.phase_arrays("final", ctx.paths(sd))     # logits through the outputs cache
    scores = toolkit.run_attack("lira", final.target, final.labels, final.ref, final.keep, groups=final.groups)
    zip_path, summary, table = toolkit.submit(ctx)      # every stage, as ``mia submit``

The README's "Use from Python" section runs the whole example.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> (module, attribute): resolved by ``__getattr__`` on first use
_EXPORTS = {
    "ToolkitError": ("toolkit.errors", "ToolkitError"),
    "load_track": ("toolkit.tracks", "load_track"),
    "list_tracks": ("toolkit.tracks", "list_tracks"),
    "Recipe": ("toolkit.tracks", "Recipe"),
    "open_scenario": ("toolkit.mico.scenario", "open_scenario"),
    "get_outputs": ("toolkit.outputs", "get_outputs"),
    "load_outputs": ("toolkit.outputs", "load_outputs"),
    "attack_names": ("toolkit.attacks", "attack_names"),
    "attack_params": ("toolkit.attacks", "attack_params"),
    "run_attack": ("toolkit.attacks", "run_attack"),
    "scorer_metrics": ("toolkit.metrics", "scorer_metrics"),
    "known_solution": ("toolkit.mico.scoring", "known_solution"),
    "validation_scores": ("toolkit.mico.scoring", "validation_scores"),
    "Context": ("toolkit.context", "Context"),
    "stage_outputs": ("toolkit.mico.pipeline", "stage_outputs"),
    "stage_attack": ("toolkit.mico.pipeline", "stage_attack"),
    "stage_package": ("toolkit.mico.pipeline", "stage_package"),
    "stage_check": ("toolkit.mico.pipeline", "stage_check"),
    "submit": ("toolkit.mico.pipeline", "submit"),
    "format_table": ("toolkit.mico.pipeline", "format_table"),
    "tpr_ceiling": ("toolkit.privacy", "tpr_ceiling"),
    "recipe_ceiling": ("toolkit.mico.ceiling", "recipe_ceiling"),
    "write_submission_report": ("toolkit.mico.report", "write_submission_report"),
    "rebuild_report": ("toolkit.report", "rebuild"),
    "make_submission": ("toolkit.tml.pipeline", "make_submission"),
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    """Import a public name's module on first use (PEP 562), so that ``import toolkit`` loads nothing heavy."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'toolkit' has no attribute {name!r}")
    module, attr = _EXPORTS[name]
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's names and the lazily imported public ones."""
    return sorted(set(globals()) | set(_EXPORTS))
