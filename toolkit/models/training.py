"""Training models: ``train_model`` trains a built model on tensors (every reference the runner trains, through
its ``fit_model``, and the studies' models).

Non-private training is minibatch SGD/Adam, reshuffled every epoch or (``order="fixed"``) in the
given order every epoch, as MICO's organisers trained (members first). Private training is DP-SGD
(Abadi et al. 2016): Poisson-sampled batches, per-sample gradients (``torch.func``, vectorised),
clipping to norm C and Gaussian noise σC; σ is chosen for (ε, δ) by Opacus's RDP or PRV accountant.
The learning rate follows ``schedule`` (``lr_schedule``), stepped after every optimiser step: StepLR
multiplies it by ``lr_gamma`` every ``lr_step`` epochs (DP-SGD: an epoch is 1/q Poisson steps, as
Opacus's loader counts it), cosine anneals it to 0 over the run, onecycle is Smith's one-cycle
policy peaking at ``lr``. Options: SGD's Nesterov momentum, label smoothing (both paths), random
flips and quarter turns of image batches (``toolkit.models.augment``; both paths), and bf16
autocast (``toolkit.models.precision``; non-DP only).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from toolkit.errors import ConfigError
from toolkit.models.step import make_optimizer as _optimizer
from toolkit.models.step import train_step as _step
from toolkit.training_tables import ACCOUNTANTS, OPTIMIZERS, ORDERS, check_training

__all__ = [
    "TrainConfig",
    "train_model",
    "noise_multiplier",
    "lr_schedule",
    "OPTIMIZERS",
    "ORDERS",
    "ACCOUNTANTS",
]


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained: epochs, batch, optimiser, DP-SGD (ε, δ, clip), seed and device."""

    epochs: int = 30
    batch_size: int = 64
    lr: float = 0.05
    optimizer: str = "sgd"  # sgd | adam | adamw
    weight_decay: float = 0.0
    epsilon: float = math.inf
    delta: float = 1e-5
    clip: float = 1.0
    seed: int = 0
    device: str = "cpu"
    momentum: float | None = None  # SGD's; None: 0.9 without DP, 0 with DP-SGD
    lr_step: int = 0  # StepLR: lr × lr_gamma every lr_step epochs; 0 = constant
    lr_gamma: float = 1.0
    order: str = "shuffle"  # shuffle | fixed (the given order every epoch; non-DP only)
    accountant: str = "rdp"  # rdp | prv: how σ is found for (ε, δ)
    nesterov: bool = False  # SGD's Nesterov momentum
    schedule: str = "step"  # step: StepLR (lr_step 0 = constant) | cosine | onecycle
    label_smoothing: float = 0.0
    augment: str = ""  # comma-separated: flip (horizontal), rot90 (random quarter turns); images only
    precision: str = "fp32"  # fp32 | bf16 (autocast) | auto (bf16 where a short probe shows it faster)

    def __post_init__(self):
        check_config(self)


def check_config(cfg: TrainConfig) -> None:
    """A recipe the trainer can run, or a one-line ``ConfigError`` naming the value it cannot."""
    check_training(vars(cfg))


@functools.lru_cache(maxsize=64)  # every model of a scenario asks the same
def noise_multiplier(epsilon: float, delta: float, sample_rate: float, epochs: int, accountant: str = "rdp") -> float:
    """σ such that DP-SGD with these settings is (ε, δ)-DP under ``accountant`` (rdp or prv).

    Opacus's search takes seconds (tens for MICO's Purchase-100 recipe with PRV): its answer is kept on
    disk per setting and Opacus version (``$MIA_CACHE_DIR/privacy``), so the builder's workers, the
    reference trainer and the DP ceiling (``toolkit.mico.ceiling``) search once between them.
    """
    from importlib import metadata

    from toolkit.privacy import cached_json

    def search() -> dict:
        try:
            from opacus.accountants.utils import get_noise_multiplier
        except ImportError:
            hint = "pip install -e '.[dp]' (make does it)"
            raise ConfigError("DP training needs Opacus's accountant", hint) from None
        return {"sigma": float(get_noise_multiplier(**setting, accountant=accountant))}

    try:
        version = metadata.version("opacus")  # importing Opacus itself takes a second or two: only on a miss
    except metadata.PackageNotFoundError:
        version = None
    setting = dict(target_epsilon=epsilon, target_delta=delta, sample_rate=sample_rate, epochs=epochs)
    key = {"what": "noise multiplier", "opacus": version, "accountant": accountant, **setting}
    return float(cached_json(key, search)["sigma"])


def lr_schedule(opt, cfg: TrainConfig, steps_per_epoch: int = 1, total_steps: int | None = None):
    """The learning-rate schedule, to be stepped after every optimiser step, or None for a constant rate.

    ``steps_per_epoch``: optimiser steps in an epoch (batches; DP-SGD: 1/q); ``total_steps``: in the
    whole run (default epochs × steps_per_epoch). "step": StepLR, × ``lr_gamma`` every ``lr_step``
    epochs (``lr_step`` 0: None); "cosine": lr·(1 + cos(πt/T))/2 at step t of T, from lr to ~0;
    "onecycle": torch's OneCycleLR with max_lr = lr (warm-up over 30% of the run from lr/25, then
    cosine down to lr/(25·10⁴)); it also cycles SGD's momentum 0.95 → 0.85 → 0.95 (Adam's β₁) as
    torch does, except for SGD without momentum.
    """
    import torch

    sched = torch.optim.lr_scheduler
    total = total_steps or cfg.epochs * steps_per_epoch
    if cfg.schedule == "cosine":
        return sched.CosineAnnealingLR(opt, T_max=total)
    if cfg.schedule == "onecycle":
        cycle = cfg.optimizer != "sgd" or opt.defaults["momentum"] > 0
        return sched.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total, cycle_momentum=cycle)
    return sched.StepLR(opt, cfg.lr_step * steps_per_epoch, cfg.lr_gamma) if cfg.lr_step else None


def train_model(model, x, y, cfg: TrainConfig):
    """Train ``model`` in place on tensors ``x`` [n, ...], ``y`` int64 [n]; returns it in eval mode.

    The precision is ``training_precision(model, x, cfg)``'s choice (``toolkit.models.precision``).
    """
    import torch

    from toolkit.models.augment import augment_batch, augment_ops
    from toolkit.models.precision import training_precision

    ops = augment_ops(cfg.augment, x)
    precision = training_precision(model, x, cfg)[0]  # before seeding: the probe leaves the run's draws alone
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    model.to(cfg.device).train()
    if precision == "bf16" and x.dim() == 4:
        model.to(memory_format=torch.channels_last)
    x, y = x.to(cfg.device), y.to(cfg.device)
    opt = _optimizer(model.parameters(), cfg)
    if math.isfinite(cfg.epsilon):
        _dp_sgd(model, x, y, opt, cfg, gen, ops)
        return model.eval()
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    n = len(y)
    schedule = lr_schedule(opt, cfg, math.ceil(n / cfg.batch_size))
    fixed = torch.arange(n, device=cfg.device)
    for _ in range(cfg.epochs):
        order = fixed if cfg.order == "fixed" else torch.randperm(n, generator=gen).to(cfg.device)
        for start in range(0, n, cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            _step(model, opt, loss_fn, augment_batch(x[idx], ops, gen), y[idx], precision)
            if schedule:
                schedule.step()
    return model.eval()


def _linear_layers(model):
    """The model's ``nn.Linear`` layers if they own every trainable parameter, else None."""
    import torch

    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    owned = {id(p) for m in linears for p in m.parameters()}
    return linears if linears and all(id(p) in owned for p in model.parameters() if p.requires_grad) else None


def _clipped_sums_linear(model, linears, xb, yb, clip: float, smoothing: float = 0.0):
    """Σ_i min(1, C/‖g_i‖) g_i per parameter without per-sample gradients, or None if a layer's input is not 2-D.

    A Linear layer's per-sample gradient is the outer product δ_i a_iᵀ (δ_i the gradient at its output,
    a_i its input), so ‖g_i‖² = Σ_layers ‖δ_i‖²(‖a_i‖² + 1) and the clipped sum is (f∘δ)ᵀA (Goodfellow 2015,
    "Efficient per-example gradient computations"; the ghost clipping of Li et al. 2022): no [B, out, in]
    tensor, ~50× faster than vmap on the MICO MLP on CPU.
    """
    import torch

    acts, outs = {}, {}

    def keep(mod, inp, out):
        acts[mod], outs[mod] = inp[0], out

    hooks = [m.register_forward_hook(keep) for m in linears]
    try:
        loss = torch.nn.functional.cross_entropy(model(xb), yb, reduction="sum", label_smoothing=smoothing)
    finally:
        for h in hooks:
            h.remove()
    if any(acts[m].dim() != 2 for m in linears):
        return None
    deltas = torch.autograd.grad(loss, [outs[m] for m in linears])
    sq = sum(d.pow(2).sum(1) * (acts[m].pow(2).sum(1) + (m.bias is not None)) for m, d in zip(linears, deltas))
    factor = (clip / (sq.sqrt() + 1e-6)).clamp(max=1.0)
    sums = {}
    for m, d in zip(linears, deltas):
        fd = d * factor[:, None]
        sums[m.weight] = (fd.T @ acts[m]).detach()
        if m.bias is not None:
            sums[m.bias] = fd.sum(0).detach()
    return sums


def _clipped_sums_vmap(model, xb, yb, clip: float, smoothing: float = 0.0):
    """Σ_i min(1, C/‖g_i‖) g_i per parameter from per-sample gradients (``torch.func``), for any model."""
    import torch
    from torch.func import functional_call, grad, vmap

    def sample_loss(p, xi, yi):
        out = functional_call(model, p, (xi.unsqueeze(0),))
        return torch.nn.functional.cross_entropy(out, yi.unsqueeze(0), label_smoothing=smoothing)

    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    grads = vmap(grad(sample_loss), in_dims=(None, 0, 0))(params, xb, yb)
    norms = torch.sqrt(sum(g.flatten(1).pow(2).sum(1) for g in grads.values()))
    factor = (clip / (norms + 1e-6)).clamp(max=1.0)
    named = dict(model.named_parameters())
    return {named[k]: (g * factor.view(-1, *[1] * (g.dim() - 1))).sum(0) for k, g in grads.items()}


def _dp_sgd(model, x, y, opt, cfg: TrainConfig, gen, ops: tuple[str, ...] = ()) -> None:
    """DP-SGD: Poisson batches (augmented by ``ops`` before their per-sample gradients), clipping, noise σC."""
    import torch

    from toolkit.models.augment import augment_batch

    n = len(y)
    q = min(1.0, cfg.batch_size / n)
    sigma = noise_multiplier(cfg.epsilon, cfg.delta, q, cfg.epochs, cfg.accountant)
    steps = int(math.ceil(cfg.epochs / q))
    per_epoch = max(1, round(1 / q))  # Opacus's Poisson loader: len(loader) steps per epoch
    schedule = lr_schedule(opt, cfg, per_epoch, steps)
    trainable = [p for p in model.parameters() if p.requires_grad]
    linears = _linear_layers(model)
    for _ in range(steps):
        mask = torch.rand(n, generator=gen) < q  # Poisson sampling
        idx = mask.nonzero().squeeze(1).to(cfg.device)
        opt.zero_grad(set_to_none=True)
        sums = {}
        if len(idx):
            xb, yb, ls = augment_batch(x[idx], ops, gen), y[idx], cfg.label_smoothing
            sums = _clipped_sums_linear(model, linears, xb, yb, cfg.clip, ls) if linears else None
            if sums is None:
                linears = None  # inputs are not [B, features]: the general path from now on
                sums = _clipped_sums_vmap(model, xb, yb, cfg.clip, ls)
        for p in trainable:
            noise = torch.normal(0.0, sigma * cfg.clip, p.shape, generator=gen).to(cfg.device)
            p.grad = (sums.get(p, 0.0) + noise) / (q * n)
        opt.step()
        if schedule:
            schedule.step()
