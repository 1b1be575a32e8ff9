"""Training-step speed in fp32 against bf16 autocast + channels-last, per architecture, and what "auto" picks.

For each architecture, one ``train_model`` step (``toolkit.models.step.train_step``: SGD with
momentum 0.9, cross-entropy, zero_grad/forward/backward/step) on a batch of ``--batch`` random
inputs, with ``--threads`` torch threads: fp32, and bf16 autocast with the model and the inputs
channels-last (4-D inputs), each on its own fresh copy of the model; ``--warmup`` steps of each
first, then the median seconds of ``--steps`` steps, the two precisions' steps alternating so that
load from elsewhere on a shared machine hits both alike. Last, ``training_precision`` with ``precision = "auto"``
at the same batch: the choice train_model would make here and its probe's seconds (≤ 16 rows on a CPU).

Architectures: the 2025 task's ``resnet18_44`` (torchvision ResNet18, ImageNet stem, 44 classes)
and the 2026 task's CIFAR-stem ResNet18 (conv1 3×3 stride 1, no max-pool, 9 classes; built here
if the registry has no ``resnet18_cifar``) on 3×32×32; MICO's CIFAR-10 CNN on 3×32×32 and
Purchase-100 MLP on 600 binary features.

    python benchmarks/bench_bf16.py [--threads 1] [--batch 64] [--steps 5] [--arch resnet18_cifar,mico_mlp]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

ARCHS = {  # name: (classes, input shape of one row)
    "resnet18_44": (44, (3, 32, 32)),
    "resnet18_cifar": (9, (3, 32, 32)),
    "mico_cnn": (10, (3, 32, 32)),
    "mico_mlp": (100, (600,)),
}


def build(name: str, n_classes: int):
    """A registered architecture, or the CIFAR-stem ResNet18 built here where it is not registered yet."""
    from toolkit.models import architecture_names, build_model

    if name in architecture_names():
        return build_model(name, n_classes, seed=0)
    import torch
    from torchvision.models import resnet18

    torch.manual_seed(0)
    model = resnet18(weights=None, num_classes=n_classes)
    model.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    model.maxpool = torch.nn.Identity()
    return model


def step_seconds(model, x, y, cfg, warmup: int, steps: int) -> dict[str, float]:
    """Median seconds of a training step in fp32 and in bf16 + channels-last, each on its own copy of ``model``.

    After ``warmup`` steps of each, the two precisions' steps alternate, so load from elsewhere hits both alike.
    """
    import torch

    from toolkit.models.step import make_optimizer, train_step

    runs = {}
    for precision in ("fp32", "bf16"):
        copied = copy.deepcopy(model).train()
        if precision == "bf16" and x.dim() == 4:
            copied = copied.to(memory_format=torch.channels_last)
        runs[precision] = (copied, make_optimizer(copied.parameters(), cfg), [])
    loss_fn = torch.nn.CrossEntropyLoss()
    for _ in range(warmup + steps):
        for precision, (copied, opt, times) in runs.items():
            start = time.perf_counter()
            train_step(copied, opt, loss_fn, x, y, precision)
            times.append(time.perf_counter() - start)
    return {precision: statistics.median(times[warmup:]) for precision, (_, _, times) in runs.items()}


def measure(steps: int = 5, *, threads: int = 1, batch: int = 64, warmup: int = 2, repeats: int = 3, archs=ARCHS):
    """Per architecture: fp32 and bf16 seconds per step and the ratio fp32 ÷ bf16 of each of ``repeats``
    measurements (each the median of ``steps`` steps), with ``threads`` torch threads."""
    import torch

    from toolkit.models.training import TrainConfig

    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    cfg = TrainConfig(batch_size=batch, lr=0.01, precision="auto")
    gen = torch.Generator().manual_seed(0)
    rows = []
    try:
        for name in archs:
            n_classes, shape = ARCHS[name]
            model = build(name, n_classes)
            x = torch.randn(batch, *shape, generator=gen)
            y = torch.randint(0, n_classes, (batch,), generator=gen)
            runs = [step_seconds(model, x, y, cfg, warmup, steps) for _ in range(repeats)]
            rows.append(
                {
                    "architecture": name,
                    "fp32": statistics.median(r["fp32"] for r in runs),
                    "bf16": statistics.median(r["bf16"] for r in runs),
                    "ratios": [r["fp32"] / r["bf16"] for r in runs],
                }
            )
    finally:
        torch.set_num_threads(old)
    return rows


def main() -> None:
    import torch

    from toolkit.models.precision import bf16_supported, training_precision
    from toolkit.models.training import TrainConfig

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--batch", type=int, default=64, help="images (rows) per step")
    p.add_argument("--steps", type=int, default=5, help="timed steps per precision (the median is printed)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--arch", default=",".join(ARCHS), help=f"comma list of: {', '.join(ARCHS)}")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cpu = torch.backends.cpu.get_cpu_capability()
    print(
        f"torch {torch.__version__}, CPU capability {cpu}, bf16 units: {bf16_supported('cpu')}, "
        f"threads={torch.get_num_threads()}, batch {args.batch}, median of {args.steps} steps after {args.warmup}"
    )
    cfg = TrainConfig(batch_size=args.batch, lr=0.01, precision="auto")
    gen = torch.Generator().manual_seed(0)
    for name in args.arch.split(","):
        n_classes, shape = ARCHS[name]
        model = build(name, n_classes)
        x = torch.randn(args.batch, *shape, generator=gen)
        y = torch.randint(0, n_classes, (args.batch,), generator=gen)
        seconds = step_seconds(model, x, y, cfg, args.warmup, args.steps)
        fp32, bf16 = seconds["fp32"], seconds["bf16"]
        start = time.perf_counter()
        choice, probe = training_precision(model, x, cfg)
        spent = time.perf_counter() - start
        seen = ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in probe.items()) or "no probe"
        print(
            f"{name:15s} fp32 {fp32 * 1e3:7.1f} ms/step, bf16+channels-last {bf16 * 1e3:7.1f} ms/step: "
            f"{fp32 / bf16:.2f}× | "
            f"auto picks {choice} (probe {spent:.1f} s: {seen})"
        )


if __name__ == "__main__":
    main()
