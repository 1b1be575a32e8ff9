"""The arithmetic ``train_model`` trains in: fp32, or bf16 autocast with channels-last images.

``precision = "bf16"`` runs each forward pass and loss under ``torch.autocast(dtype=torch.bfloat16)``
(weights, gradients and the optimiser stay fp32), with the model and 4-D inputs in channels-last
memory format, the layout the bf16 convolution kernels want. ``"auto"`` lets the machine decide,
once per process for each (architecture, input shape, batch size, device, torch threads): where
the device has bf16 arithmetic (CUDA: ``torch.cuda.is_bf16_supported()``; CPU: AVX512-BF16 or AMX
tile units) a short probe times training steps on throw-away copies of the model, on one batch
(≤ 16 rows on a CPU, the run's batch on a GPU), one warm-up then the median of 3 steps in each
precision, and takes bf16 only if it is at least 10% faster (fp32 seconds / bf16 seconds ≥ 1.1);
otherwise, and always for DP-SGD, fp32. The probe costs seconds: on one CPU thread 0.8–1.6 s for the
MICO CNN and the 2025 ResNet18, 4 s for the CIFAR-stem ResNet18 (8.5 s with the cores loaded).

Measured with ``benchmarks/bench_bf16.py`` (one CPU thread with AVX512-BF16, batch 64, figures in
``benchmarks/README.md``): bf16 + channels-last trains the CIFAR-stem ResNet18 2.0–2.7× faster per
step, MICO's CIFAR CNN 2.0–2.4×, the 2025 task's ResNet18 (ImageNet stem on 32×32) 1.2–1.8× (it
varies most between runs), and the Purchase MLP 0.6–1.0× (slower: fp32 there).
"""

from __future__ import annotations

import math
import statistics
import threading
import time

from toolkit.models.step import autocast  # re-exported: the context a step of each precision runs in

__all__ = ["training_precision", "bf16_supported", "autocast", "SPEED_UP"]

SPEED_UP = 1.1  # "auto" takes bf16 when fp32's step takes ≥ 1.1× bf16's
PROBE_ROWS, PROBE_STEPS = 16, 3
_PROBES: dict[tuple, tuple[str, dict[str, float]]] = {}
_LOCK = threading.Lock()  # one probe at a time: two timed together would disturb each other


def bf16_supported(device) -> bool:
    """Whether ``device`` has bf16 arithmetic: CUDA's own check; on a CPU, AVX512-BF16 or AMX tile units."""
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if dev.type != "cpu":
        return False
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # torch.cpu's, present from torch 2.3
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def training_precision(model, x, cfg) -> tuple[str, dict[str, float]]:
    """What ``train_model(model, x, y, cfg)`` trains in: ("fp32" or "bf16", the probe's seconds per step).

    ``cfg.precision`` "fp32"/"bf16" is taken as it is (no probe: {}). "auto" gives fp32 for DP-SGD
    and on devices without bf16 arithmetic, else the probe's choice (module docstring) with its
    median seconds per step {"fp32": s, "bf16": s}, memoised for the process.
    """
    import torch

    if cfg.precision != "auto":
        return cfg.precision, {}
    if math.isfinite(cfg.epsilon) or not bf16_supported(cfg.device):
        return "fp32", {}
    shapes = tuple((name, tuple(p.shape)) for name, p in model.named_parameters())
    key = (type(model).__module__, type(model).__qualname__, shapes, tuple(x.shape[1:]), cfg.batch_size)
    key += (str(torch.device(cfg.device)), torch.get_num_threads())
    with _LOCK:
        if key not in _PROBES:
            seconds = _probe(model, x, cfg)
            faster = seconds["fp32"] >= SPEED_UP * seconds["bf16"]
            _PROBES[key] = ("bf16" if faster else "fp32", seconds)
        choice, seconds = _PROBES[key]
    return choice, dict(seconds)


def _probe(model, x, cfg) -> dict[str, float]:
    """Median seconds of a training step in fp32 and in bf16 on copies of ``model`` and a batch of ``x``.

    The batch: ≤ 16 rows on a CPU (a step's cost grows with its rows there), the run's batch on a GPU
    (milliseconds, and a small one would time kernel launches, not arithmetic). The two precisions'
    steps alternate, so a burst of load from elsewhere hits both alike.
    """
    import copy

    import torch

    from toolkit.models.step import make_optimizer, train_step

    rows = min(cfg.batch_size, len(x), PROBE_ROWS if torch.device(cfg.device).type == "cpu" else cfg.batch_size)
    xb = x[:rows].to(cfg.device)
    yb = torch.zeros(rows, dtype=torch.long, device=cfg.device)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    runs = {}
    for precision in ("fp32", "bf16"):
        probe = copy.deepcopy(model).to(cfg.device).train()
        if precision == "bf16" and xb.dim() == 4:
            probe = probe.to(memory_format=torch.channels_last)
        runs[precision] = (probe, make_optimizer(probe.parameters(), cfg), [])
    with torch.random.fork_rng(devices=[]):  # a model with dropout must not move the caller's random stream
        for _ in range(1 + PROBE_STEPS):
            for precision, (probe, opt, times) in runs.items():
                _sync(cfg.device)
                start = time.perf_counter()
                train_step(probe, opt, loss_fn, xb, yb, precision)
                _sync(cfg.device)
                times.append(time.perf_counter() - start)
    return {precision: statistics.median(times[1:]) for precision, (_, _, times) in runs.items()}  # 1st: set-up


def _sync(device) -> None:
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
