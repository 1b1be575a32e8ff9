"""The kind dispatch: one keyword-only run context, each kind's commands, options it does not use refused."""

from __future__ import annotations

import pytest

from toolkit.context import CONTEXT_FIELDS, Context, reads
from toolkit.errors import ConfigError
from toolkit.kinds import command_names, run
from toolkit.tracks import load_track


def test_the_run_context_is_keyword_only():
    track = load_track("demo")
    with pytest.raises(TypeError):
        Context(track, "data")  # positional fields are refused
    ctx = Context(track=track, data_dir="data", views=["orig", "flip"])
    assert ctx.data_dir.name == "data" and ctx.views == ("orig", "flip") and ctx.timings == {}


def test_each_kind_declares_its_commands():
    assert {"challenge", "outputs", "attack", "package", "check", "submit", "evaluate", "tune"} <= set(
        command_names(load_track("demo"))
    )
    assert command_names(load_track("resnet18")) == ("submit",)


def test_an_option_the_kind_does_not_use_is_refused_before_anything_runs():
    ctx = Context(track=load_track("resnet18"))
    with pytest.raises(ConfigError, match="does not use --scheduler, --train-models in `mia submit`"):
        run("submit", ctx, {"scheduler": "--scheduler", "train_models": "--train-models"}, train_models=4)
    with pytest.raises(ConfigError, match="has no 'tune' command; its commands: submit"):
        run("tune", ctx)


def test_reads_names_only_context_fields():
    assert "jobs" in CONTEXT_FIELDS and "track" not in CONTEXT_FIELDS
    with pytest.raises(ValueError, match="not Context fields: colour"):
        reads("jobs", "colour")
