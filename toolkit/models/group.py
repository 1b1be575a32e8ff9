"""Train several MLPs at once: one step runs K models together, their weights stacked on a model axis.

Reference models are trained by the hundreds, and one small MLP (MICO's Purchase-100 net,
600→128→100) is too little work per step to keep a CPU core's matrix unit busy: one at a time,
``train_model`` spends more than half of each step outside its matrix multiplies (autograd, the
optimiser, small element-wise kernels, fresh allocations). Here the K models' weights are stacked
([K, out, in] per layer) and each step gathers every model's batch into one [K, B, in] buffer and
runs each layer as one batched multiply over the model axis (``torch.baddbmm``/``bmm``), with the
backward pass written out by hand (the loss gradient is softmax − one-hot; each activation's
derivative is one fused kernel; the first layer's input gradient is never computed), gradients
written into reused buffers, and one fused optimiser step for all K models.

Measured with ``benchmarks/bench_trainer.py`` on this project's 2-core CPU (figures in
``benchmarks/README.md``): the gain levels off from 8 models per step (from 4 at 1 thread); at 2
threads 8–16 per step train the Purchase-100 MLP 1.9× (batch 512) to 2.5× (batch 256) faster per
model than ``train_model``, the multiplies running at 62–64% of the GEMM ceiling measured on the
same shapes and threads (``train_model``: 25–35%), and DP-SGD 1.7× faster; at 1 thread 1.4–1.7×
faster, at 61–68% of the ceiling. What is left is the row gather, the Adam update and softmax,
each a pass over memory, and for DP-SGD the Gaussian noise drawn for every parameter.

Semantics are ``train_model``'s, model by model: the same initialisation (``build_model`` with
the model's seed), optimiser (SGD or Adam(W), weight decay, momentum, Nesterov), learning-rate
schedule (``lr_schedule``), label smoothing, batch order ("fixed": the given order every epoch;
"shuffle": a permutation per epoch drawn from the model's own generator exactly as ``train_model``
draws it), and DP-SGD (Poisson sampling with rate q, per-sample clipping by the ghost-norm trick,
Gaussian noise σC, update (sum + noise)/(qn)). ``precision`` is not applied: the hand-written
multiplies run in fp32 (it says how fast, not what is learnt); augmentation is for images only.
Element-wise optimisers on stacked tensors do for each model what they do for it alone, so a
model's result does not depend on its group but for floating-point rounding. Every model draws
its randomness from its own ``torch.Generator`` seeded by its seed. DP-SGD draws its Poisson
batches as geometric gaps between sampled rows (O(qn) draws per step instead of n uniforms: the
same distribution, another random stream than ``train_model``'s).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from toolkit.errors import ConfigError
from toolkit.models import build_model
from toolkit.models.layout import activate, activation_grad, layout
from toolkit.models.step import make_optimizer
from toolkit.models.training import TrainConfig, lr_schedule, noise_multiplier

if TYPE_CHECKING:
    import torch

__all__ = ["can_group", "train_group"]

# --- the stacked models


@dataclass
class _Stack:
    """K models' Linear parameters stacked on a leading model axis, their activations, and scratch buffers."""

    weights: list  # [K, out, in] per layer (leaf tensors; .grad is written in place every step)
    biases: list  # [K, out] per layer, or None
    acts: list[list]  # element-wise modules after each layer (none after the last)
    scratch: dict = field(default_factory=dict)

    def params(self) -> list:
        return [p for pair in zip(self.weights, self.biases) for p in pair if p is not None]

    def buffer(self, name: str, shape: tuple):
        """A reused float buffer of ``shape`` (fresh memory costs page faults on every step)."""
        import torch

        numel, ref = math.prod(shape), self.weights[0]
        buf = self.scratch.get(name)
        if buf is None or buf.numel() < numel:
            buf = self.scratch[name] = torch.empty(numel, dtype=ref.dtype, device=ref.device)
        return buf[:numel].view(shape)


def _stack(models: list, device: str) -> _Stack:
    """The models' Linear parameters stacked, as fresh leaf tensors on ``device`` with zeroed grads."""
    import torch

    layouts = [layout(m) for m in models]
    weights, biases = [], []
    for i, lin in enumerate(layouts[0].linears):
        weights.append(torch.stack([lay.linears[i].weight.detach() for lay in layouts]).to(device))
        has_bias = lin.bias is not None
        biases.append(torch.stack([lay.linears[i].bias.detach() for lay in layouts]).to(device) if has_bias else None)
    stack = _Stack(weights, biases, layouts[0].acts)
    for p in stack.params():
        p.requires_grad_()
        p.grad = torch.zeros_like(p)
    return stack


def _unstack(stack: _Stack, models: list) -> list:
    """Copy each model's slice of the stack into its module; the modules on CPU in eval mode."""
    import torch

    with torch.no_grad():
        for k, model in enumerate(models):
            for lin, w, b in zip(layout(model).linears, stack.weights, stack.biases):
                lin.weight.copy_(w[k].cpu())
                if b is not None:
                    lin.bias.copy_(b[k].cpu())
    return [m.cpu().eval() for m in models]


def _forward(stack: _Stack, x) -> tuple[list, list]:
    """Each layer's input (x first, the logits last) and pre-activation output, on x [K, B, in].

    Runs without autograd (call it under ``torch.no_grad()``): the backward pass is ``_backward``.
    """
    import torch

    ins, outs, h = [x], [], x
    for i, (w, b, chain) in enumerate(zip(stack.weights, stack.biases, stack.acts)):
        z = stack.buffer(f"z{i}", (x.shape[0], x.shape[1], w.shape[1]))
        if b is not None:
            torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2), out=z)
        else:
            torch.bmm(h, w.transpose(1, 2), out=z)
        outs.append(z)
        h = activate(chain, z) if chain else z
        ins.append(h)
    return ins, outs


def _loss_grad(stack: _Stack, logits, y, mask=None, smoothing: float = 0.0):
    """∂(Σ cross-entropy)/∂logits = softmax − target per row, zero on masked-out rows.

    The target is the one-hot label, or with label smoothing ε (Szegedy et al. 2016) (1 − ε)·one-hot + ε/C.
    """
    import torch

    g = torch.ops.aten._softmax.out(logits, 2, False, out=stack.buffer("softmax", tuple(logits.shape)))
    g.scatter_add_(2, y.unsqueeze(2), g.new_full((1, 1, 1), smoothing - 1.0).expand(*y.shape, 1))
    if smoothing:
        g.sub_(smoothing / logits.shape[2])
    return g.mul_(mask.unsqueeze(2)) if mask is not None else g


def _backward(stack: _Stack, ins: list, outs: list, g, on_delta) -> None:
    """Back-propagate ``g`` (gradient at the logits), calling ``on_delta(layer, δ)`` from the last layer down.

    δ is the gradient at the layer's output; the first layer's input gradient is not computed.
    """
    import torch

    for i in reversed(range(len(stack.weights))):
        on_delta(i, g)
        if i:
            gh = torch.bmm(g, stack.weights[i], out=stack.buffer(f"gh{i}", tuple(ins[i].shape)))
            g = activation_grad(stack.acts[i - 1], gh, outs[i - 1], ins[i])


def _plain_step(stack: _Stack, x, y, smoothing: float = 0.0) -> None:
    """Write each model's mean-loss gradient on batch x [K, B, in], y [K, B] into the parameters' .grad."""
    import torch

    ins, outs = _forward(stack, x)
    scale = 1.0 / x.shape[1]  # train_model's loss is the batch mean

    def store(i: int, delta) -> None:
        w, b = stack.weights[i], stack.biases[i]
        torch.baddbmm(w.grad, delta.transpose(1, 2), ins[i], beta=0, alpha=scale, out=w.grad)
        if b is not None:
            torch.sum(delta, 1, out=b.grad).mul_(scale)

    _backward(stack, ins, outs, _loss_grad(stack, ins[-1], y, smoothing=smoothing), store)


def _clipped_sums_stacked(stack: _Stack, x, y, mask, clip: float, smoothing: float = 0.0) -> list:
    """Σ_i min(1, C/‖g_i‖) g_i per stacked parameter, without per-sample gradients (ghost norms).

    x [K, B, in], y [K, B], mask [K, B] (0 on padding). A Linear layer's per-sample gradient is
    δ_i a_iᵀ (δ_i: gradient at its output, a_i: its input), so ‖g_i‖² = Σ_layers ‖δ_i‖²(‖a_i‖² + 1)
    and the clipped sum is (f∘δ)ᵀA, one batched multiply per layer (as ``_clipped_sums_linear``).
    Padded rows have δ = 0, so they add nothing. Returns tensors in ``stack.params()`` order.
    """
    import torch

    with torch.no_grad():
        return _clipped_sums(stack, x, y, mask, clip, smoothing)


def _clipped_sums(stack: _Stack, x, y, mask, clip: float, smoothing: float = 0.0) -> list:
    import torch

    ins, outs = _forward(stack, x)
    deltas = [None] * len(stack.weights)  # each layer's δ lives in its own buffer until the next step
    _backward(stack, ins, outs, _loss_grad(stack, ins[-1], y, mask, smoothing), lambda i, d: deltas.__setitem__(i, d))
    norm2 = lambda t: torch.linalg.vector_norm(t, dim=2).square_()  # a reduction, no [K, B, in] temporary
    sq = sum(norm2(d) * (norm2(a) + (b is not None)) for d, a, b in zip(deltas, ins, stack.biases))
    factor = (clip / (sq.sqrt() + 1e-6)).clamp(max=1.0).unsqueeze(2)
    sums = []
    for d, a, b in zip(deltas, ins, stack.biases):
        fd = d.mul_(factor)
        sums.append(torch.bmm(fd.transpose(1, 2), a))
        if b is not None:
            sums.append(fd.sum(1))
    return sums


# --- public API


@functools.lru_cache(maxsize=32)
def can_group(architecture: str) -> bool:
    """Whether ``architecture`` is a stack of Linear layers with element-wise activations between them.

    Checked on the module tree (built on the meta device, so nothing heavy is allocated), then
    numerically: the stacked forward pass must give the model's own logits, so a forward() that
    does more than chain its layers is caught.
    """
    import torch

    try:
        with torch.device("meta"):
            if layout(build_model(architecture, 3)) is None:
                return False
        with torch.random.fork_rng(devices=[]):  # building seeds the global generator: leave the caller's as it was
            model = build_model(architecture, 3, seed=0).eval()
        x = torch.randn(4, layout(model).linears[0].in_features, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            own = model(x)
            logits = _forward(_stack([model], "cpu"), x.unsqueeze(0))[0][-1][0]
    except Exception:  # cannot be built or run here (a missing extra, another input shape): not one to group
        return False
    return own.shape == logits.shape and bool(torch.allclose(own, logits, rtol=1e-4, atol=1e-5))


def train_group(
    architecture: str,
    n_classes: int,
    inputs: np.ndarray,
    labels: np.ndarray,
    sets: list[np.ndarray],
    cfg: TrainConfig,
    seeds: list[int],
) -> list[torch.nn.Module]:
    """Train K = len(sets) models of ``architecture`` at once, model k on rows ``sets[k]`` (in that order).

    Model k starts from ``build_model(architecture, n_classes, seed=seeds[k])`` and follows
    ``train_model``'s recipe ``cfg`` with its own generator seeded by ``seeds[k]``. Returns the K
    modules on CPU in eval mode, with ``build_model``'s state-dict keys.
    """
    import torch

    _check_sets(sets, seeds)
    if cfg.augment:
        raise ConfigError(f"augment {cfg.augment!r} is for image models; train_group trains MLPs on feature rows")
    if not can_group(architecture):
        raise ConfigError(f"architecture {architecture!r} is not a stack of Linear layers; train it with train_model")
    models = [build_model(architecture, n_classes, seed=s) for s in seeds]
    data = _data(inputs, labels, sets, cfg.device)
    stack = _stack(models, cfg.device)
    gens = [torch.Generator(device=cfg.device).manual_seed(s) for s in seeds]
    opt = make_optimizer(stack.params(), cfg, fused=True)  # one kernel updates all K models
    with torch.no_grad():
        (_train_dp if math.isfinite(cfg.epsilon) else _train_plain)(stack, data, opt, gens, cfg)
    return _unstack(stack, models)


def _check_sets(sets: list[np.ndarray], seeds: list[int]) -> None:
    if not len(sets) or len(seeds) != len(sets):
        raise ConfigError(f"train_group needs one seed per training set, got {len(sets)} sets and {len(seeds)} seeds")
    sizes = sorted({len(s) for s in sets})
    if len(sizes) > 1 or sizes[0] == 0:
        raise ConfigError(f"train_group trains equal, non-empty training sets together, got sizes {sizes}")


# --- data and batches


@dataclass
class _Data:
    """The rows the group trains on, once, as float32 [rows, in] and int64 [rows], plus each model's set."""

    x: object
    y: object
    sets: object  # int64 [K, n]: each model's rows (indices into x, y) in the given order


def _data(inputs: np.ndarray, labels: np.ndarray, sets: list[np.ndarray], device: str) -> _Data:
    """The training rows as tensors: the population itself where torch can share its memory.

    That is a float32, C-ordered, writable array on a CPU device (sets index it directly);
    otherwise the rows the sets use are copied once and the sets renumbered.
    """
    import torch

    idx = np.stack([np.asarray(s, dtype=np.int64) for s in sets])
    flat = inputs.reshape(len(inputs), -1) if isinstance(inputs, np.ndarray) else None
    shared = flat is not None and flat.dtype == np.float32 and flat.flags.c_contiguous and flat.flags.writeable
    if shared and torch.device(device).type == "cpu":
        y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        return _Data(torch.from_numpy(flat), y, torch.from_numpy(idx))
    rows, local = np.unique(idx, return_inverse=True)
    x = np.asarray(inputs[rows], dtype=np.float32).reshape(len(rows), -1)
    y = np.asarray(labels[rows], dtype=np.int64)
    return _Data(
        torch.from_numpy(x).to(device),
        torch.from_numpy(y).to(device),
        torch.from_numpy(local.reshape(idx.shape)).to(device),
    )


def _gather(stack: _Stack, data: _Data, idx) -> tuple:
    """Rows idx [K, B] as x [K, B, in] (into a reused buffer) and y [K, B]."""
    import torch

    k, b = idx.shape
    flat = idx.reshape(-1)
    x = torch.index_select(data.x, 0, flat, out=stack.buffer("x", (k * b, data.x.shape[1])))
    return x.view(k, b, -1), data.y[flat].view(k, b)


def _epoch_orders(data: _Data, gens: list, cfg: TrainConfig):
    """Each epoch's [K, n] row order: the given one ("fixed") or a permutation per model ("shuffle")."""
    import torch

    n = data.sets.shape[1]
    for _ in range(cfg.epochs):
        if cfg.order == "fixed":
            yield data.sets
        else:
            perms = torch.stack([torch.randperm(n, generator=g, device=g.device) for g in gens])
            yield data.sets.gather(1, perms.to(data.sets.device))


def _train_plain(stack: _Stack, data: _Data, opt, gens: list, cfg: TrainConfig) -> None:
    """Minibatch training, every model's batch of the same step gathered into one [K, B, in] buffer.

    (Gathering each step into the same buffer measured faster than slicing rows laid out once per
    model: the multiplies then read the batch from cache, not from memory.)
    """
    n = data.sets.shape[1]
    schedule = lr_schedule(opt, cfg, math.ceil(n / cfg.batch_size))
    for order in _epoch_orders(data, gens, cfg):
        for start in range(0, n, cfg.batch_size):
            _plain_step(stack, *_gather(stack, data, order[:, start : start + cfg.batch_size]), cfg.label_smoothing)
            opt.step()
            if schedule:
                schedule.step()


def _poisson_rows(n: int, q: float, gen):
    """Rows 0..n-1 each drawn with probability q, as geometric gaps (O(qn) uniforms, not n)."""
    import torch

    device = gen.device
    if q >= 1:
        return torch.arange(n, device=device)
    log1q = math.log1p(-q)
    picked, last = [], -1
    while last < n:
        u = torch.rand(int(q * n + 6 * math.sqrt(q * n) + 16), generator=gen, device=device, dtype=torch.float64)
        pos = last + torch.cumsum(torch.floor(torch.log1p(-u) / log1q) + 1, 0).long()  # u < 1: no log(0)
        picked.append(pos)
        last = int(pos[-1])
    rows = torch.cat(picked)
    return rows[rows < n]


def _padded(rows: list, data: _Data) -> tuple:
    """Each model's Poisson batch (positions in its set) as [K, Bmax] row indices and a float mask."""
    import torch

    device = data.sets.device
    lens = torch.tensor([len(r) for r in rows], device=device)
    width = max(1, int(lens.max()))
    model = torch.repeat_interleave(torch.arange(len(rows), device=device), lens)
    col = torch.arange(int(lens.sum()), device=device) - torch.repeat_interleave(lens.cumsum(0) - lens, lens)
    pos = torch.zeros(len(rows), width, dtype=torch.long, device=device)
    mask = torch.zeros(len(rows), width, device=device)
    pos[model, col] = torch.cat(rows).to(device)
    mask[model, col] = 1.0
    return data.sets.gather(1, pos), mask


def _noise(stack: _Stack, gens: list, std: float) -> list:
    """Gaussian noise N(0, std²) for every stacked parameter, model k's from its own generator."""
    import torch

    params = stack.params()
    sizes = [p[0].numel() for p in params]
    flat = torch.stack([torch.randn(sum(sizes), generator=g, device=g.device) for g in gens]).mul_(std)
    return [part.view_as(p) for part, p in zip(flat.split(sizes, dim=1), params)]


def _train_dp(stack: _Stack, data: _Data, opt, gens: list, cfg: TrainConfig) -> None:
    """DP-SGD as ``train_model`` runs it (Poisson batches, clipping, noise σC, the schedule stepped every step)."""
    n = data.sets.shape[1]
    q = min(1.0, cfg.batch_size / n)
    sigma = noise_multiplier(cfg.epsilon, cfg.delta, q, cfg.epochs, cfg.accountant)
    steps = int(math.ceil(cfg.epochs / q))
    schedule = lr_schedule(opt, cfg, max(1, round(1 / q)), steps)
    params = stack.params()
    for _ in range(steps):
        idx, mask = _padded([_poisson_rows(n, q, g) for g in gens], data)
        x, y = _gather(stack, data, idx)
        sums = _clipped_sums(stack, x, y, mask, cfg.clip, cfg.label_smoothing)
        for p, s, z in zip(params, sums, _noise(stack, gens, sigma * cfg.clip)):
            p.grad.copy_(s.add_(z)).div_(q * n)
        opt.step()
        if schedule:
            schedule.step()
