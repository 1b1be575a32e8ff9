"""A track's training table as a ``TrainConfig``, and the record that names a folder of models by its settings.

``train_config`` is the one way a ``TrainConfig`` is made from a track: its ``[build]`` table (the
local challenge's models), its ``[shadow]`` table (the ResNet18 task's shadows) or its
``[references]`` table (MICO references) at a scenario's ε. ``training_record`` is what makes two
folders of trained models interchangeable (the settings, not the device, seed or precision: how
fast, not what is learnt), ``training_key`` its short hash, a shadow folder's name.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict

import numpy as np

from toolkit.io import sha256_bytes
from toolkit.models.training import TrainConfig
from toolkit.training_tables import Build, References, ShadowTraining

__all__ = ["train_config", "settings_record", "training_record", "training_key", "LATER_DEFAULTS"]

# TrainConfig fields added after the first shadow folders: at these values a folder keeps its hash
LATER_DEFAULTS = {
    "momentum": None,
    "lr_step": 0,
    "lr_gamma": 1.0,
    "order": "shuffle",
    "accountant": "rdp",
    "nesterov": False,
    "schedule": "step",
    "label_smoothing": 0.0,
    "augment": "",
}


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


def training_record(cfg: TrainConfig, architecture: str, n_classes: int, seed: int, pool, n_points: int) -> dict:
    """What makes two shadow folders interchangeable: the settings, the pool and the seed (not the device)."""
    pool_n = n_points if pool is None else len(np.asarray(pool))
    train = settings_record(cfg, LATER_DEFAULTS)
    return {"architecture": architecture, "n_classes": n_classes, "train": train, "seed": seed, "pool": pool_n}


def training_key(cfg: TrainConfig, architecture: str = "resnet18_44", pool: str = "all", seed: int = 0) -> str:
    """A short name for a shadow folder's settings: the hash of its training record."""
    rec = training_record(cfg, architecture, 0, seed, None, 0) | {"pool": pool}
    return sha256_bytes(json.dumps(rec, sort_keys=True).encode())[:10]
