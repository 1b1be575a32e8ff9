"""A track's training table as a ``TrainConfig``, and the settings of one that say what is learnt.

``train_config`` is the one way a ``TrainConfig`` is made from a track: its ``[build]`` table (the
local challenge's models), its ``[shadow]`` table (the ResNet18 task's shadows) or its
``[references]`` table (MICO references) at a scenario's ε. ``settings_record`` is the part of a
``TrainConfig`` that makes two folders of trained models interchangeable (the settings, not the
device, seed or precision: how fast, not what is learnt); ``references.folder`` names and claims a
shadow folder by it.
"""

from __future__ import annotations

import math
from dataclasses import asdict

from toolkit.models.training import TrainConfig
from toolkit.training_tables import Build, References, ShadowTraining

__all__ = ["train_config", "settings_record"]


def train_config(
    table: Build | ShadowTraining | References,
    *,
    seed: int = 0,
    epsilon: float = math.inf,
    device: str = "cpu",
    epochs: int | None = None,
) -> TrainConfig:
    """The ``TrainConfig`` of one model trained in ``table``'s settings with ``seed`` on ``device``.

    ``[references]`` and ``[build]`` (trained as a ``References`` made from it) take the scenario's
    ``epsilon``, with their ``dp_*`` values where it is finite; ``[shadow]`` trains without DP.
    ``epochs`` overrides the table's.
    """
    if isinstance(table, ShadowTraining):
        return TrainConfig(**table.training(seed, epochs), device=device)
    refs = References.from_build(table) if isinstance(table, Build) else table
    values = refs.training(epsilon, seed)
    return TrainConfig(**(values | {"epochs": epochs} if epochs else values), device=device)


def settings_record(cfg: TrainConfig, later: dict) -> dict:
    """``cfg``'s fields that say what is learnt (JSON-ready), less those of ``later`` still at their values."""
    train = {k: (str(v) if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(cfg).items()}
    del train["device"], train["seed"], train["precision"]  # how fast, not what is learnt
    for name, value in later.items():  # fields added later: a folder made before them keeps its hash
        if train.get(name) == value:
            del train[name]
    return train
