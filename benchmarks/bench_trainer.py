"""Reference-model training speed: ``train_group`` (K models per step) against ``train_model`` and the GEMM ceiling.

Workload: the MICO Purchase-100 MLP (600 → 128 → 100, Adam lr 1e-3, StepLR(5, 0.9), order
"fixed") on synthetic binary rows, ``--rows`` rows per model for ``--epochs`` epochs, at MICO's
batch 512 and at purchase_shaped's batch 256. In one run, with ``--threads`` torch threads
throughout, it measures

  (a) the fp32 matrix-multiply ceiling: every multiply one training step performs, on its own
      shape ([K, B, 600] × [K, 600, 128] and so on; the 2-D shapes for one model), each timed
      alone, best of a few; the ceiling is the step's FLOPs over the sum of those times. A big
      square GEMM is timed too, for reference;
  (b) ``train_model``, one model at a time: seconds per model;
  (c) ``train_group`` at each ``--stack`` size: seconds per model, the rate, its ratio to the
      ceiling of the same shapes (and to the square GEMM), and the speed-up over (b);

then extrapolates to MICO's Purchase-100 recipe (150,000 rows × 30 epochs, batch 512: seconds per
model) and to 64 purchase_shaped models (15,000 rows × 30 epochs, batch 256: minutes), and times
DP-SGD (Poisson sampling q = 512/rows, clip 2.6, ε = 10) at the best stack size against
``train_model``'s DP-SGD. On a GPU it also prints models per minute for each stack size.

FLOPs are counted as the multiplies actually performed, 2·in·out per row for each of a layer's
forward product, its weight gradient and, from the second layer on, its input gradient (the
first layer's input gradient is never computed): 384,000 per row for this MLP. Biases,
activations, the loss and the optimiser are not counted. Times are wall-clock of whole calls
(set-up included), best of ``--repeats``: the machine may be shared, the fastest run is the least
disturbed one.

    python benchmarks/bench_trainer.py [--threads N] [--rows 15000] [--epochs 2] [--stack 1,4,8,16] [--device cuda]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

ARCH, N_CLASSES, FEATURES = "mico_mlp", 100, 600
BATCHES = {512: "MICO recipe, batch 512", 256: "purchase_shaped recipe, batch 256"}


def layer_dims() -> list[tuple[int, int]]:
    """(in, out) of each Linear layer of the benchmarked architecture."""
    from torch import nn

    from toolkit.models import build_model

    return [(m.in_features, m.out_features) for m in build_model(ARCH, N_CLASSES).modules() if isinstance(m, nn.Linear)]


def flops_per_row(dims: list[tuple[int, int]]) -> int:
    """Forward and weight-gradient products of every layer, input gradients of all but the first."""
    return sum(4 * i * o for i, o in dims) + sum(2 * i * o for i, o in dims[1:])


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _best_time(fn, device: str, repeats: int = 5) -> float:
    fn()
    _sync(device)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def step_gemms(k: int, batch: int, dims: list[tuple[int, int]], device: str) -> list:
    """Zero-argument callables, one per multiply of a training step, on the trainer's shapes."""
    import torch

    def t(*shape):
        return torch.randn(*shape, device=device)

    calls = []
    for layer, (i, o) in enumerate(dims):
        if k == 1:  # train_model: nn.Linear's 2-D products
            x, w, d = t(batch, i), t(o, i), t(batch, o)
            calls += [lambda x=x, w=w: x @ w.T, lambda x=x, d=d: d.T @ x]
            calls += [lambda w=w, d=d: d @ w] if layer else []
        else:
            x, w, d = t(k, batch, i), t(k, o, i), t(k, batch, o)
            calls += [
                lambda x=x, w=w: torch.bmm(x, w.transpose(1, 2)),
                lambda x=x, d=d: torch.bmm(d.transpose(1, 2), x),
            ]
            calls += [lambda w=w, d=d: torch.bmm(d, w)] if layer else []
    return calls


def shape_ceiling(k: int, batch: int, dims: list[tuple[int, int]], device: str) -> float:
    """FLOP/s of one step's multiplies, each timed alone on its own shape (best of 5)."""
    seconds = sum(_best_time(fn, device) for fn in step_gemms(k, batch, dims, device))
    return k * batch * flops_per_row(dims) / seconds


def square_peak(device: str) -> float:
    """FLOP/s of one big square fp32 GEMM (best of 5)."""
    import torch

    n = 4096 if device.startswith("cuda") else 2048
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    return 2 * n**3 / _best_time(lambda: a @ b, device)


def make_data(rows: int, n_models: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Binary features (Purchase-100's kind), labels, and one random training set of ``rows`` rows per model."""
    rng = np.random.default_rng(seed)
    population = int(rows * 1.3) + 1
    x = (rng.random((population, FEATURES)) < 0.3).astype(np.float32)
    y = rng.integers(0, N_CLASSES, population)
    return x, y, [rng.permutation(population)[:rows].astype(np.int64) for _ in range(n_models)]


def recipe(batch: int, epochs: int, device: str, **dp):
    from toolkit.models.training import TrainConfig

    return TrainConfig(
        epochs=epochs, batch_size=batch, lr=1e-3, optimizer="adam", lr_step=5, lr_gamma=0.9, order="fixed",
        device=device, **dp,
    )  # fmt: skip


def time_sequential(x, y, sets, cfg, repeats: int) -> float:
    """Seconds for ``train_model`` to train one model on ``sets[0]`` (best of ``repeats``)."""
    import torch

    from toolkit.models import build_model
    from toolkit.models.training import train_model

    xt, yt = torch.from_numpy(x[sets[0]]), torch.from_numpy(y[sets[0]])

    def run():
        train_model(build_model(ARCH, N_CLASSES, seed=0), xt, yt, cfg)

    return _best_time(run, cfg.device, repeats)


def time_group(x, y, sets, cfg, repeats: int) -> float:
    """Seconds per model for ``train_group`` to train len(sets) models at once (best of ``repeats``)."""
    from toolkit.models.group import train_group

    def run():
        train_group(ARCH, N_CLASSES, x, y, sets, cfg, list(range(len(sets))))

    return _best_time(run, cfg.device, repeats) / len(sets)


def warm_up(x, y, sets, device: str) -> None:
    """One tiny run of each trainer: lazy initialisation is not what is measured."""
    small = [s[:64] for s in sets[:2]]
    time_sequential(x, y, small, recipe(32, 1, device), 1)
    time_group(x, y, small, recipe(32, 1, device), 1)


def measure(k: int, batch: int, args, dims, x, y, sets) -> tuple[float, float]:
    """(seconds per model, shape ceiling) at stack size k (0: train_model), interleaved over ``--repeats``.

    The best of each: a burst of load from elsewhere hits the training runs and the ceiling alike.
    """
    cfg = recipe(batch, args.epochs, args.device)
    seconds, ceiling = math.inf, 0.0
    for _ in range(args.repeats):
        run = time_sequential(x, y, sets, cfg, 1) if k == 0 else time_group(x, y, sets[:k], cfg, 1)
        seconds, ceiling = min(seconds, run), max(ceiling, shape_ceiling(max(k, 1), batch, dims, args.device))
    return seconds, ceiling


def run_batch(batch: int, args, dims, x, y, sets, peak: float) -> dict:
    """(b) and (c) at one batch size; returns seconds per model by stack size (0 = train_model)."""
    work = args.rows * args.epochs * flops_per_row(dims)
    seconds = {}
    for k in [0, *args.stack]:
        seconds[k], ceiling = measure(k, batch, args, dims, x, y, sets)
        rate = work / seconds[k]
        head = "(b) train_model, one at a time:" if k == 0 else f"(c) train_group K={k:<3}"
        tail = "" if k == 0 else f"; {seconds[0] / seconds[k]:.2f}× train_model"
        tail += f", {60 / seconds[k]:,.0f} models/min" if args.device.startswith("cuda") else ""
        print(
            f"[{BATCHES[batch]}] {head} {seconds[k]:.3f} s/model, {rate / 1e9:.0f} GFLOP/s = {rate / ceiling:.0%} "
            f"of its shapes' ceiling ({ceiling / 1e9:.0f}), {rate / peak:.0%} of the square GEMM{tail}"
        )
    return seconds


def dp_line(args, dims, x, y, sets, k: int) -> None:
    """DP-SGD (MICO's: Poisson q = 512/rows, clip 2.6, ε = 10) at stack size ``k`` against train_model's."""
    try:
        from toolkit.models.training import noise_multiplier

        cfg = recipe(512, args.epochs, args.device, epsilon=10.0, clip=2.6, delta=1e-5, accountant="prv")
        noise_multiplier(10.0, 1e-5, 512 / args.rows, args.epochs, "prv")  # the accountant's search, not timed
    except Exception as exc:  # Opacus missing: no DP line
        print(f"[DP] skipped: {exc}")
        return
    one = time_sequential(x, y, sets, cfg, args.repeats)
    each = time_group(x, y, sets[:k], cfg, args.repeats)
    work = args.rows * args.epochs * flops_per_row(dims)  # expected rows: q·n per step × epochs/q steps
    mico = 150_000 * 30 / (args.rows * args.epochs)
    print(
        f"[DP] DP-SGD (Poisson q = 512/{args.rows:,}, clip 2.6, ε = 10): train_model {one:.3f} s/model; "
        f"train_group K={k} {each:.3f} s/model ≈ {work / each / 1e9:.0f} GFLOP/s, {one / each:.2f}× train_model; "
        f"MICO's DP recipe (150,000 rows × 30 epochs) ≈ {each * mico:.0f} s/model (train_model ≈ {one * mico:.0f})"
    )


def main() -> None:
    import torch

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads (default: torch's)")
    p.add_argument("--rows", type=int, default=15_000, help="training rows per model")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--stack", type=lambda s: [int(v) for v in s.split(",")], default=[1, 4, 8, 16])
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    dims = layer_dims()
    x, y, sets = make_data(args.rows, max(args.stack))
    print(
        f"{ARCH} {dims}, {args.rows:,} rows × {args.epochs} epochs per model, device={args.device}, "
        f"threads={torch.get_num_threads()}, best of {args.repeats}; FLOPs counted: {flops_per_row(dims):,} per row "
        f"(forward + weight gradient of every layer, input gradient of all but the first)"
    )
    peak = square_peak(args.device)
    print(f"(a) square fp32 GEMM ({'4096' if args.device.startswith('cuda') else '2048'}³): {peak / 1e9:,.0f} GFLOP/s")
    warm_up(x, y, sets, args.device)
    seconds = {batch: run_batch(batch, args, dims, x, y, sets, peak) for batch in BATCHES}
    scale_mico = 150_000 * 30 / (args.rows * args.epochs)
    scale_shaped = 15_000 * 30 / (args.rows * args.epochs)
    best = min(args.stack, key=lambda k: seconds[512][k])
    best_256 = min(args.stack, key=lambda k: seconds[256][k])
    print(
        f"MICO Purchase-100 recipe (150,000 rows × 30 epochs, batch 512): train_model ≈ "
        f"{seconds[512][0] * scale_mico:.0f} s/model, train_group K={best} ≈ "
        f"{seconds[512][best] * scale_mico:.0f} s/model"
    )
    print(
        f"64 purchase_shaped models (15,000 rows × 30 epochs, batch 256, Adam): train_model ≈ "
        f"{64 * seconds[256][0] * scale_shaped / 60:.1f} min, train_group K={best_256} ≈ "
        f"{64 * seconds[256][best_256] * scale_shaped / 60:.1f} min"
    )
    dp_line(args, dims, x, y, sets, best)


if __name__ == "__main__":
    main()
