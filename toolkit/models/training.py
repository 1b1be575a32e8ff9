"""Training models: the local challenge builder, shadow models and studies all call ``train_model``.

Non-private training is minibatch SGD/Adam with reshuffling. Private training is DP-SGD
(Abadi et al. 2016): Poisson-sampled batches, per-sample gradients (``torch.func``, vectorised),
clipping to norm C and Gaussian noise σC; σ is chosen for (ε, δ) by Opacus's RDP accountant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from toolkit.errors import ConfigError

__all__ = ["TrainConfig", "train_model", "noise_multiplier"]


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    batch_size: int = 64
    lr: float = 0.05
    optimizer: str = "sgd"  # sgd | adam
    weight_decay: float = 0.0
    epsilon: float = math.inf
    delta: float = 1e-5
    clip: float = 1.0
    seed: int = 0
    device: str = "cpu"


def noise_multiplier(epsilon: float, delta: float, sample_rate: float, epochs: int) -> float:
    """σ such that DP-SGD with these settings is (ε, δ)-DP under the RDP accountant."""
    try:
        from opacus.accountants.utils import get_noise_multiplier
    except ImportError:
        raise ConfigError("DP training needs Opacus's accountant", "pip install -e '.[dp]' (make does it)") from None
    return float(get_noise_multiplier(target_epsilon=epsilon, target_delta=delta, sample_rate=sample_rate,
                                      epochs=epochs, accountant="rdp"))


def _optimizer(params, cfg: TrainConfig):
    import torch

    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9 if not math.isfinite(cfg.epsilon) else 0.0,
                               weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise ConfigError(f"unknown optimizer {cfg.optimizer!r}; valid: sgd, adam")


def train_model(model, x, y, cfg: TrainConfig):
    """Train ``model`` in place on tensors ``x`` [n, ...], ``y`` int64 [n]; returns it in eval mode."""
    import torch

    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    model.to(cfg.device).train()
    x, y = x.to(cfg.device), y.to(cfg.device)
    opt = _optimizer(model.parameters(), cfg)
    if math.isfinite(cfg.epsilon):
        _dp_sgd(model, x, y, opt, cfg, gen)
    else:
        loss_fn = torch.nn.CrossEntropyLoss()
        n = len(y)
        for _ in range(cfg.epochs):
            order = torch.randperm(n, generator=gen).to(cfg.device)
            for start in range(0, n, cfg.batch_size):
                idx = order[start : start + cfg.batch_size]
                opt.zero_grad(set_to_none=True)
                loss_fn(model(x[idx]), y[idx]).backward()
                opt.step()
    return model.eval()


def _dp_sgd(model, x, y, opt, cfg: TrainConfig, gen) -> None:
    import torch
    from torch.func import functional_call, grad, vmap

    n = len(y)
    q = min(1.0, cfg.batch_size / n)
    sigma = noise_multiplier(cfg.epsilon, cfg.delta, q, cfg.epochs)
    steps = int(math.ceil(cfg.epochs / q))
    names = [k for k, p in model.named_parameters() if p.requires_grad]
    params = dict(model.named_parameters())

    def sample_loss(p, xi, yi):
        out = functional_call(model, p, (xi.unsqueeze(0),))
        return torch.nn.functional.cross_entropy(out, yi.unsqueeze(0))

    per_sample = vmap(grad(sample_loss), in_dims=(None, 0, 0))
    for _ in range(steps):
        mask = torch.rand(n, generator=gen) < q  # Poisson sampling
        idx = mask.nonzero().squeeze(1).to(cfg.device)
        detached = {k: v.detach() for k, v in params.items()}
        opt.zero_grad(set_to_none=True)
        if len(idx):
            grads = per_sample(detached, x[idx], y[idx])
            norms = torch.sqrt(sum(grads[k].flatten(1).pow(2).sum(1) for k in names))
            factor = (cfg.clip / (norms + 1e-6)).clamp(max=1.0)
        for k in names:
            total = (grads[k] * factor.view(-1, *[1] * (grads[k].dim() - 1))).sum(0) if len(idx) else 0.0
            noise = torch.normal(0.0, sigma * cfg.clip, params[k].shape, generator=gen).to(cfg.device)
            params[k].grad = (total + noise) / (q * n)
        opt.step()
