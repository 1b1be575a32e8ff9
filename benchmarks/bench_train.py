"""Reference-model training throughput: models per hour, one at a time and several at once (vmap).

For each architecture it times a few SGD steps (``--steps``) at the recipe's batch size on random
CIFAR-shaped data and extrapolates to whole models: steps per model = epochs × ⌈n_train / batch⌉.
MICO's CIFAR-10 recipe (50,000 points, 50 epochs, batch 32) is the CNN default; ResNet18 uses the
resnet18 track's sizes (20,000 points, ``--resnet-epochs``, batch 64). Then it trains ``--stack``
small models at once with ``torch.func.stack_module_state`` + ``vmap(grad(...))`` (each model its
own batch, plain SGD) and reports time per model-step against one-at-a-time training.

    python benchmarks/bench_train.py [--steps 3] [--stack 4] [--device cuda] [--threads 1]
"""

from __future__ import annotations

import argparse
import copy
import math
import time

# name: (architecture, n_classes, n_train, epochs, batch size)
RECIPES = {
    "cnn": ("mico_cnn", 10, 50_000, 50, 32),
    "resnet18": ("resnet18_44", 44, 20_000, 30, 64),
    "mlp": ("mico_mlp", 100, 150_000, 30, 512),
}
SHAPES = {"mico_cnn": (3, 32, 32), "resnet18_44": (3, 32, 32), "mico_mlp": (600,)}


def one_at_a_time(arch: str, n_classes: int, batch: int, steps: int, n_models: int, device: str) -> float:
    """Seconds per model-step, training ``n_models`` models one after the other (torch.optim.SGD)."""
    import torch

    from toolkit.models import build_model

    x = torch.randn(batch, *SHAPES[arch], device=device)
    y = torch.randint(0, n_classes, (batch,), device=device)
    loss_fn = torch.nn.CrossEntropyLoss()
    elapsed = 0.0
    for _ in range(n_models):
        model = build_model(arch, n_classes).to(device).train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        for step in range(steps + 1):  # step 0 warms up (allocator, kernels)
            if step == 1:
                _sync(device)
                start = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            opt.step()
        _sync(device)
        elapsed += time.perf_counter() - start
    return elapsed / (steps * n_models)


def stacked(arch: str, n_classes: int, batch: int, steps: int, n_models: int, device: str) -> float:
    """Seconds per model-step, training ``n_models`` models at once: one vmapped forward/backward."""
    import torch
    from torch.func import functional_call, grad, stack_module_state, vmap

    from toolkit.models import build_model

    first = build_model(arch, n_classes).to(device).train()
    models = [first] + [_reinitialised(copy.deepcopy(first)) for _ in range(n_models - 1)]
    params, buffers = stack_module_state(models)  # every tensor gains a leading model axis
    skeleton = copy.deepcopy(models[0]).to("meta")

    def loss(p, b, x, y):
        out = functional_call(skeleton, (p, b), (x,))
        return torch.nn.functional.cross_entropy(out, y)

    step_fn = vmap(grad(loss), in_dims=(0, 0, 0, 0), randomness="different")
    x = torch.randn(n_models, batch, *SHAPES[arch], device=device)  # each model its own batch
    y = torch.randint(0, n_classes, (n_models, batch), device=device)
    for step in range(steps + 1):
        if step == 1:
            _sync(device)
            start = time.perf_counter()
        grads = step_fn(params, buffers, x, y)
        with torch.no_grad():
            for name, g in grads.items():
                params[name].sub_(0.01 * g)
    _sync(device)
    return (time.perf_counter() - start) / (steps * n_models)


def _reinitialised(model):
    """A fresh draw of the same model (stack_module_state wants one class; build_model makes a new class per call)."""
    for module in model.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return model


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def models_per_hour(seconds_per_step: float, n_train: int, epochs: int, batch: int) -> float:
    return 3600 / (seconds_per_step * epochs * math.ceil(n_train / batch))


def main() -> None:
    import torch

    from toolkit.models import architecture_names

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=3, help="timed SGD steps per model")
    p.add_argument("--stack", type=int, default=4, help="models trained at once with vmap")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--only", choices=sorted(RECIPES), default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    kinds = [args.only] if args.only else list(RECIPES)
    for kind in kinds:
        arch, n_classes, n_train, epochs, batch = RECIPES[kind]
        if arch not in architecture_names():
            print(f"[{kind}] skipped: architecture {arch} not registered")
            continue
        single = one_at_a_time(arch, n_classes, batch, args.steps, args.stack, args.device)
        many = stacked(arch, n_classes, batch, args.steps, args.stack, args.device)
        recipe = f"{n_train:,} points × {epochs} epochs, batch {batch}"
        print(f"[{kind}] {arch} on {args.device} ({args.threads} thread(s)), recipe {recipe}:")
        print(
            f"[{kind}]   one at a time : {single * 1e3:9.1f} ms/step  → "
            f"{models_per_hour(single, n_train, epochs, batch):8.2f} models/hour"
        )
        print(
            f"[{kind}]   {args.stack} stacked (vmap): {many * 1e3:9.1f} ms/model-step → "
            f"{models_per_hour(many, n_train, epochs, batch):8.2f} models/hour"
        )
        print(f"[{kind}]   stacked_vs_single={single / many:.2f}")


if __name__ == "__main__":
    main()
