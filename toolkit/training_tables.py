"""How the toolkit trains models, as data: a track's ``[build]``, ``[shadow]`` and ``[references]`` tables.

``check_training`` says whether the trainer can run a set of settings, so a track's table fails at load
with one line naming the value; ``toolkit.models.training`` applies the same check to every ``TrainConfig``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from toolkit.errors import ConfigError

__all__ = [
    "Build",
    "ShadowTraining",
    "References",
    "check_training",
    "parse_augment",
    "OPTIMIZERS",
    "ORDERS",
    "ACCOUNTANTS",
    "SCHEDULES",
    "AUGMENTS",
    "PRECISIONS",
]


def parse_augment(spec: str) -> tuple[str, ...]:
    """'flip,rot90' -> ('flip', 'rot90'); '' -> (); an unknown name is one line listing the valid ones."""
    parts = tuple(dict.fromkeys(p.strip() for p in str(spec).split(",") if p.strip()))
    bad = [p for p in parts if p not in AUGMENTS]
    if bad:
        raise ConfigError(
            f"unknown training augmentation {bad[0]!r:.40}; valid: {', '.join(AUGMENTS)} (comma-separated)"
        )
    return parts


OPTIMIZERS = ("sgd", "adam", "adamw")
ORDERS = ("shuffle", "fixed")
ACCOUNTANTS = ("rdp", "prv")
SCHEDULES = ("step", "cosine", "onecycle")  # step: StepLR by lr_step/lr_gamma (lr_step 0 = constant)
AUGMENTS = ("flip", "rot90")  # random horizontal flips; random multiples of 90° (with flip: the 8 dihedral maps)
PRECISIONS = ("fp32", "bf16", "auto")  # auto: bf16 autocast where a probe in the same run shows it faster


def check_training(values: Mapping[str, Any]) -> None:
    """Settings the trainer can run (``TrainConfig``'s fields), or a one-line ``ConfigError`` naming the value."""
    choices = (("optimizer", OPTIMIZERS), ("order", ORDERS), ("accountant", ACCOUNTANTS))
    choices += (("schedule", SCHEDULES), ("precision", PRECISIONS))
    for name, valid in choices:
        if values.get(name, valid[0]) not in valid:
            raise ConfigError(f"the trainer has no {name} {values[name]!r}; valid: {', '.join(valid)}")
    for name in ("epochs", "batch_size"):
        if not isinstance(values[name], int) or values[name] < 1:
            raise ConfigError(f"training {name} must be a positive integer, got {values[name]!r}")
    if values["lr_step"] < 0:
        raise ConfigError(f"lr_step must be ≥ 0 epochs (0 = constant rate), got {values['lr_step']}")
    for name in ("lr", "lr_gamma", "delta", "clip", "epsilon"):
        if not values[name] > 0:
            raise ConfigError(f"training {name} must be a positive number, got {values[name]!r}")
    if values["momentum"] is not None and not 0 <= values["momentum"] < 1:
        raise ConfigError(f"momentum must lie in [0, 1), got {values['momentum']}")
    smoothing = values.get("label_smoothing", 0.0)
    if isinstance(smoothing, bool) or not isinstance(smoothing, (int, float)) or not 0 <= smoothing < 1:
        raise ConfigError(f"label_smoothing must be a number in [0, 1), got {smoothing!r:.40}")
    dp = math.isfinite(values["epsilon"])
    if values.get("nesterov") and (values["optimizer"] != "sgd" or values["momentum"] == 0):
        raise ConfigError("nesterov needs optimizer = 'sgd' with momentum > 0")
    if values.get("nesterov") and dp and values["momentum"] is None:
        raise ConfigError("nesterov needs a momentum > 0, and DP-SGD's default is 0: set momentum")
    if values.get("precision") == "bf16" and dp:
        raise ConfigError("DP-SGD trains in fp32 (per-sample gradients): precision 'bf16' is for non-private training")
    parse_augment(values.get("augment", ""))


@dataclass(frozen=True)
class Build:
    """How the toolkit builds a local challenge for this track (``mia challenge build``)."""

    train_models: int = 32
    dev_models: int = 8
    final_models: int = 8
    seed: int = 0
    epochs: int = 30
    batch_size: int = 64
    lr: float = 0.05
    optimizer: str = "sgd"
    weight_decay: float = 0.0
    clip: float = 1.0  # DP-SGD per-sample clipping norm
    delta: float = 1e-5
    dp_epochs: int = 20  # DP-SGD prefers fewer, larger (Poisson) batches
    dp_batch_size: int = 250
    dp_lr: float = 0.5
    reveal_training: bool = False  # dev/final folders also get seed_training (a ddp-shaped challenge)


@dataclass(frozen=True)
class ShadowTraining:
    """How the toolkit trains shadow models for a track that ships none (``[shadow]``; the ResNet18 task)."""

    epochs: int = 20
    batch_size: int = 256
    lr: float = 0.05
    optimizer: str = "sgd"
    weight_decay: float = 5e-4
    momentum: float | None = None  # SGD's; None: 0.9
    nesterov: bool = False
    schedule: str = "step"  # step (lr_step 0: constant) | cosine | onecycle
    lr_step: int = 0
    lr_gamma: float = 1.0
    label_smoothing: float = 0.0
    augment: str = ""  # comma-separated: flip, rot90
    precision: str = "fp32"  # fp32 | bf16 | auto (bf16 autocast where a probe shows it faster here)

    def training(self, seed: int = 0, epochs: int | None = None) -> dict[str, Any]:
        """One shadow's training settings, as ``TrainConfig``'s keyword values (``epochs`` overrides)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return values | {"epochs": epochs or self.epochs, "seed": seed}


@dataclass(frozen=True)
class References:
    """How the toolkit trains reference models of its own for a MICO-layout track (``[references]``).

    Written per track from the organisers' training code; a scenario may override any key in its
    own ``references`` table, and ``mia references`` on the command line. DP-SGD scenarios (finite
    ε) use the ``dp_*`` values where set, else the plain ones; ε is the scenario's.
    """

    count: int = 64  # references per scenario when -n is not given
    architecture: str | None = None  # default: the scenario's
    len_training: int | None = None  # rows per reference; default: the scenario's n
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float | None = None  # SGD's; default 0.9 without DP, 0 with DP-SGD
    weight_decay: float = 0.0
    epochs: int = 30
    batch_size: int = 64  # DP-SGD: the expected Poisson batch (q = batch_size / rows)
    lr_step: int = 0  # StepLR step in epochs; 0 = constant
    lr_gamma: float = 1.0
    order: str = "shuffle"  # shuffle, or fixed: one order every epoch (the organisers' unshuffled loaders)
    dp_lr: float | None = None
    dp_epochs: int | None = None
    dp_batch_size: int | None = None
    clip: float = 1.0
    delta: float = 1e-5
    accountant: str = "rdp"  # rdp | prv
    seed: int = 0
    precision: str = "fp32"  # fp32 | bf16 | auto (bf16 autocast where a probe shows it faster); DP-SGD: fp32

    def training(self, epsilon: float, seed: int = 0) -> dict[str, Any]:
        """One reference's training settings at ``epsilon``, as ``TrainConfig``'s keyword values."""
        dp = math.isfinite(epsilon)
        pick = lambda plain, private: private if dp and private is not None else plain  # noqa: E731
        return dict(
            epochs=pick(self.epochs, self.dp_epochs),
            batch_size=pick(self.batch_size, self.dp_batch_size),
            lr=pick(self.lr, self.dp_lr),
            optimizer=self.optimizer,
            weight_decay=self.weight_decay,
            epsilon=epsilon,
            delta=self.delta,
            clip=self.clip,
            seed=seed,
            momentum=self.momentum,
            lr_step=self.lr_step,
            lr_gamma=self.lr_gamma,
            order="shuffle" if dp else self.order,
            accountant=self.accountant,
            precision="fp32" if dp and self.precision == "bf16" else self.precision,
        )

    @classmethod
    def from_build(cls, build: Build) -> References:
        """A local challenge's own recipe (its ``[build]`` table): references made exactly as its models."""
        return cls(
            optimizer=build.optimizer,
            lr=build.lr,
            weight_decay=build.weight_decay,
            epochs=build.epochs,
            batch_size=build.batch_size,
            dp_lr=build.dp_lr,
            dp_epochs=build.dp_epochs,
            dp_batch_size=build.dp_batch_size,
            clip=build.clip,
            delta=build.delta,
        )
