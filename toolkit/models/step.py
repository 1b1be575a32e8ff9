"""One optimiser step as the trainer takes it: the optimiser a recipe names, a step in a precision.

``toolkit.models.training`` trains with these, and ``toolkit.models.precision``'s probe times them,
so the probe measures exactly the steps a run will take.
"""

from __future__ import annotations

import contextlib
import math

__all__ = ["make_optimizer", "train_step", "autocast"]


def autocast(precision: str, device_type: str):
    """``torch.autocast`` to bf16 for ``precision == "bf16"``, else a context that changes nothing."""
    import torch

    if precision == "bf16":
        return torch.autocast(device_type=device_type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def make_optimizer(params, cfg, *, fused: bool = False):
    """The optimiser ``cfg`` names (a ``TrainConfig``): SGD (momentum 0.9 by default, 0 under DP-SGD; Nesterov
    where asked), Adam or AdamW, with its learning rate and weight decay. ``fused``: one kernel updates every
    parameter (the grouped trainer's stacked models)."""
    import torch

    extra = {"fused": True} if fused else {}
    if cfg.optimizer == "sgd":
        momentum = cfg.momentum if cfg.momentum is not None else (0.0 if math.isfinite(cfg.epsilon) else 0.9)
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=momentum, weight_decay=cfg.weight_decay, nesterov=cfg.nesterov, **extra
        )
    cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **extra)


def train_step(model, opt, loss_fn, xb, yb, precision: str) -> None:
    """One optimiser step on the batch; bf16: forward and loss under autocast, images channels-last."""
    import torch

    if precision == "bf16" and xb.dim() == 4:
        xb = xb.contiguous(memory_format=torch.channels_last)
    opt.zero_grad(set_to_none=True)
    with autocast(precision, xb.device.type):
        loss = loss_fn(model(xb), yb)
    loss.backward()
    opt.step()
