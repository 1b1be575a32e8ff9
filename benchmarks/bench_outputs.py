"""Throughput of get_outputs (points × models per second) against a naive and a bare torch loop.

Workload (built here, in a temporary folder): random-weight MICO CNN (CIFAR-10 shape, 10 classes)
and MICO MLP (Purchase-100 shape, 100 classes) models saved with ``save_model``, and synthetic
populations registered as datasets for the run. For each architecture it measures

  (a) a per-sample Python loop as in the source documents (Dataset item, forward, softmax per point;
      measured on a subset, extrapolated),
  (b) a bare batched single-process torch loop (load each model, batches of 1024, no cache),
  (c1/c2) get_outputs with jobs=1 / jobs=2 on an empty cache,
  (d) get_outputs on a warm cache (file-hash memo cleared, as in a fresh invocation),

best of ``--repeats``, and the peak RSS of a child process running get_outputs on 20 and on 100
models. (a), (b) and (c1) run with ``--threads`` torch threads (default 1), (c2) with two worker
threads of one torch thread each, so speedup_j2 is the gain from a second core; each rate line
shows the cores the process kept busy meanwhile (CPU time / wall time).

The compute ceiling (e) is measured the way each run uses the machine, in every repeat beside the
runs (so a burst of load from elsewhere hits both, and the best of each is compared): every
Conv2d/Linear layer of the network is timed alone on get_outputs' own layout, batch and precision
(channels-last images in batches of 128 on a CPU, fp32; bf16 autocast for images on a GPU), with
the run's threads — (e) the calling thread with ``--threads`` torch threads, as (c1);
(e2) two worker threads pinned as get_outputs -j 2 pins them, as (c2) — and so is a big square
matrix multiply. Each layer is credited with the faster of its own rate and the square GEMM's, and
the ceiling is the batch over the sum of the layers' times, with activations, pooling and data
movement taken as free: points·models/s no batched code on these kernels can beat. The
multiply-accumulates per point are counted with forward hooks. If a run still beats its ceiling
or keeps more cores busy than the ceiling was given, a WARNING line says so and no limit on
vs_naive is claimed. The memory figures are each child's own high-water mark while get_outputs
runs. The LAST line is

  overhead=<c1/b> speedup_j2=<c2/c1> vs_naive=<c1/a> warm_vs_cold=<d/c1> memory_100_vs_20=<peak100/peak20>

for ``--primary`` (default cnn). On a CPU the CNN is slow (~100 images/s per core), so the CNN
point count defaults to 10,000 only on a GPU (1,000 on a CPU); ``--quick`` shrinks it further.

    python benchmarks/bench_outputs.py [--quick] [--models 20] [--points 10000] [--cnn-points N]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from toolkit.data import Population, files_hash, register_dataset
from toolkit.models import architecture_names, build_model, register_architecture, save_model

# name: (architecture, n_classes, input shape, dataset name)
WORKLOADS = {
    "cnn": ("mico_cnn", 10, (3, 32, 32), "bench_images"),
    "mlp": ("mico_mlp", 100, (600,), "bench_features"),
}


def _population_loader(name: str):
    """A loader written like the toolkit's own: memory-mapped arrays, a content hash by stat key."""

    def load(data_dir=None, dataset_dir=None) -> Population:
        files = [Path(data_dir) / f"{name}.npy", Path(data_dir) / f"{name}_labels.npy"]
        x, y = np.load(files[0], mmap_mode="c"), np.load(files[1])
        return Population(x, y, f"{name}:{files_hash(files)[:16]}")

    return load


# At module level, so spawned workers (which import this file as __mp_main__) know them too.
for _arch, _c, _shape, _name in WORKLOADS.values():
    register_dataset(_name)(_population_loader(_name))
if "mico_cnn" not in architecture_names():  # toolkit/models/mico.py not there yet: same layers, local

    @register_architecture("mico_cnn")
    def _mico_cnn(n_classes: int = 10):
        from torch import nn

        return nn.Sequential(
            nn.Conv2d(3, 128, 8, 2, 3),
            nn.Tanh(),
            nn.MaxPool2d(3, 1),
            nn.Conv2d(128, 256, 3),
            nn.Tanh(),
            nn.Conv2d(256, 256, 3),
            nn.Tanh(),
            nn.AvgPool2d(2, 2),
            nn.Flatten(),
            nn.Linear(6400, n_classes),
        )

    @register_architecture("mico_mlp")
    def _mico_mlp(n_classes: int = 100):
        from torch import nn

        return nn.Sequential(nn.Linear(600, 128), nn.Tanh(), nn.Linear(128, n_classes))


def build_workload(root: Path, kind: str, n_models: int, n_points: int) -> list[Path]:
    """Population files under ``root/data`` and ``n_models`` random-weight models under ``root/<kind>``."""
    import torch

    arch, n_classes, shape, name = WORKLOADS[kind]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n_points, *shape)).astype(np.float32)
    if kind == "mlp":
        x = (x > 0.5).astype(np.float32)  # Purchase-100 features are binary
    (root / "data").mkdir(parents=True, exist_ok=True)
    np.save(root / "data" / f"{name}.npy", x)
    np.save(root / "data" / f"{name}_labels.npy", rng.integers(0, n_classes, n_points))
    folder = root / kind
    folder.mkdir(exist_ok=True)
    paths = []
    for i in range(n_models):
        torch.manual_seed(i)
        save_model(build_model(arch, n_classes), folder / f"model_{i:03d}.pt")
        paths.append(folder / f"model_{i:03d}.pt")
    return paths


def tasks_for(root: Path, kind: str, paths: list[Path], n_points: int):
    from toolkit.outputs import OutputTask

    arch, n_classes, _, name = WORKLOADS[kind]
    points = np.arange(n_points, dtype=np.int64)
    return [OutputTask(p, arch, n_classes, name, points, data_dir=str(root / "data")) for p in paths]


def naive_rate(tasks, n_models: int, n_points: int) -> float:
    """(a) the source documents' pattern: a torch ``Dataset`` indexed one point at a time (a tensor
    made per item, and for images a ``Normalize`` transform per item, as torchvision datasets do),
    then per model one forward pass and one softmax read-out per point. Points·models per second.
    """
    import torch
    from torch.utils.data import Dataset
    from torchvision.transforms import Normalize

    from toolkit.models import load_model
    from toolkit.outputs.keys import population_of

    pop = population_of(tasks[0])
    normalise = Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))

    class PerItem(Dataset):
        def __len__(self):
            return n_points

        def __getitem__(self, i):
            x = torch.tensor(pop.inputs[i])
            return (normalise(x) if x.ndim == 3 else x), int(pop.labels[i])

    data = PerItem()
    start = time.perf_counter()
    for task in tasks[:n_models]:
        model = load_model(task.architecture, task.model_path, task.n_classes)
        with torch.no_grad():
            for i in range(len(data)):
                x, y = data[i]
                torch.softmax(model(x.unsqueeze(0)), dim=1)[0, y].item()
    return n_models * n_points / (time.perf_counter() - start)


def bare_rate(tasks, batch_size: int = 1024) -> float:
    """(b) the floor: load each model, batched forward passes over resident data, nothing written."""
    import torch

    from toolkit.models import load_model
    from toolkit.outputs.keys import population_of

    x = torch.from_numpy(population_of(tasks[0]).inputs)
    idx = torch.as_tensor(tasks[0].points)
    start = time.perf_counter()
    for task in tasks:
        model = load_model(task.architecture, task.model_path, task.n_classes)
        with torch.inference_mode():
            out = torch.cat([model(x.index_select(0, idx[s : s + batch_size])) for s in range(0, len(idx), batch_size)])
        out.numpy().copy()
    return len(tasks) * len(idx) / (time.perf_counter() - start)


def macs_per_point(kind: str) -> int:
    """Multiply-accumulates of one forward pass on one point (convolutions and linear layers)."""
    import torch
    from torch import nn

    arch, n_classes, shape, _ = WORKLOADS[kind]
    model, total = build_model(arch, n_classes).eval(), []

    def count(module, inputs, output):
        per_output = (
            module.in_features
            if isinstance(module, nn.Linear)
            else module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
        )
        total.append(output[0].numel() * per_output)

    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            m.register_forward_hook(count)
    with torch.inference_mode():
        model(torch.zeros(1, *shape))
    return sum(total)


def layer_calls(kind: str, device: str, precision: str, batch: int) -> list[tuple[object, int]]:
    """Each Conv2d/Linear layer as get_outputs runs it (layout, batch, precision): a call on a fixed input, its MACs.

    The inputs are captured with forward hooks on one pass over random data; image models run
    channels-last, as ``toolkit.outputs.compute`` runs them.
    """
    import torch
    from torch import nn

    arch, n_classes, shape, _ = WORKLOADS[kind]
    model = build_model(arch, n_classes).eval().to(device)
    x = torch.randn(batch, *shape, device=device)
    if x.dim() == 4:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    seen: dict = {}

    def keep(mod, inp, out) -> None:  # a hook that returned a value would replace the layer's output
        seen.setdefault(mod, (inp[0], out.numel()))

    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    hooks = [m.register_forward_hook(keep) for m in layers]
    with torch.inference_mode(), _autocast(device, precision):
        model(x)
    for hook in hooks:
        hook.remove()

    def call(mod, inp):
        with torch.inference_mode(), _autocast(device, precision):
            mod(inp)

    calls = []
    for mod in layers:
        inp, n_out = seen[mod]
        per_output = (
            mod.in_features
            if isinstance(mod, nn.Linear)
            else mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
        )
        calls.append((lambda mod=mod, inp=inp: call(mod, inp), n_out * per_output))
    return calls


def _autocast(device: str, precision: str):
    import contextlib

    import torch

    return (
        torch.autocast(device.split(":")[0], dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
    )


def square_gemm(device: str, precision: str) -> tuple[object, int]:
    """A big square matrix multiply in the run's precision (2048² fp32 on a CPU, 8192² on a GPU): call, MACs."""
    import torch

    n = 8192 if device.startswith("cuda") else 2048
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    return (lambda: a @ b), n**3


def concurrent_rate(fn, macs: int, workers: int, threads: int, device: str, repeats: int = 3) -> float:
    """MACs/s of ``fn`` run by ``workers`` threads at once, each with ``threads`` torch threads, best of ``repeats``.

    One worker runs in the calling thread (as get_outputs -j 1 does); several run as worker
    threads that pin their torch thread count first (as get_outputs -j N does). Each round starts
    all workers together and lasts until the last one finishes.
    """
    import threading

    import torch

    rounds = [[0.0] * workers for _ in range(repeats)]
    barrier = threading.Barrier(workers)

    def worker(i: int) -> None:
        torch.set_num_threads(threads)
        fn()  # warm-up
        for r in range(repeats):
            barrier.wait()
            start = time.perf_counter()
            fn()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            rounds[r][i] = time.perf_counter() - start

    if workers == 1:
        before = torch.get_num_threads()
        try:
            worker(0)
        finally:
            torch.set_num_threads(before)
    else:
        pool = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    return workers * macs / min(max(r) for r in rounds)


def compute_ceiling(kind: str, task, device: str, workers: int, threads: int) -> tuple[float, list[float], float]:
    """(ceiling in points/s, each layer's MACs/s, the square GEMM's MACs/s), measured as the run uses the machine.

    Every Conv2d/Linear layer is timed alone on get_outputs' own layout, batch and precision, with
    ``workers`` × ``threads`` as the run has them; each layer is credited with the faster of its own
    rate and the square GEMM's, and the ceiling is the batch over the sum of the layers' times
    (element-wise layers, pooling, data movement free).
    """
    from toolkit.outputs.keys import resolve_precision
    from toolkit.outputs.task import CPU_IMAGE_BATCH

    precision = resolve_precision(task, device)
    images = len(WORKLOADS[kind][2]) == 3
    batch = min(task.batch_size, CPU_IMAGE_BATCH) if images and not device.startswith("cuda") else task.batch_size
    gemm = concurrent_rate(*square_gemm(device, precision), workers, threads, device)
    calls = layer_calls(kind, device, precision, batch)
    rates = [concurrent_rate(fn, macs, workers, threads, device) for fn, macs in calls]
    return batch / sum(macs / max(rate, gemm) for (_, macs), rate in zip(calls, rates)), rates, gemm


def busy(fn):
    """``fn()`` and the cores this process kept busy meanwhile (CPU time / wall time)."""
    cpu, wall = time.process_time(), time.perf_counter()
    value = fn()
    return value, (time.process_time() - cpu) / (time.perf_counter() - wall)


def outputs_rate(tasks, cache: Path, jobs: int = 1) -> float:
    """(c) get_outputs into ``cache`` (emptied first unless warm runs are wanted by the caller)."""
    from toolkit import io, outputs

    io.FILE_HASHES.clear()  # as in a fresh invocation: model and data files are hashed again
    start = time.perf_counter()
    outputs.get_outputs(tasks, jobs=jobs, cache_dir=cache, progress=False)
    return len(tasks) * len(tasks[0].points) / (time.perf_counter() - start)


def best(fn, repeats: int) -> float:
    """Best of ``repeats`` (the machine is shared: the fastest run is the least disturbed one)."""
    return max(fn() for _ in range(repeats))


def peak_rss_mib(root: Path, kind: str, n_models: int, n_points: int, threads: int) -> tuple[float, float]:
    """(peak resident memory, MiB, of a fresh process running get_outputs on ``n_models`` models;
    the part of it already there once torch and the toolkit are imported)."""
    cmd = [sys.executable, __file__, "--memory-child", str(root), kind, str(n_models), str(n_points), str(threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    base, peak = map(float, out.strip().splitlines()[-1].split())
    return peak, base


def memory_child(root: str, kind: str, n_models: str, n_points: str, threads: str) -> None:
    import torch

    torch.set_num_threads(int(threads))
    from toolkit.outputs import get_outputs

    paths = sorted((Path(root) / kind).glob("model_*.pt"))[: int(n_models)]
    cache = Path(tempfile.mkdtemp(dir=root))
    tasks = tasks_for(Path(root), kind, paths, int(n_points))
    base = _status_mib("VmRSS")
    try:  # reset the high-water mark, so the peak is get_outputs' own and not the imports' transient
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    get_outputs(tasks, cache_dir=cache, progress=False)
    print(base, max(_status_mib("VmHWM"), base))


def _status_mib(field: str) -> float:
    """A memory figure of this process from /proc/self/status (Linux), else the peak from getrusage."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def run_kind(root: Path, kind: str, args, cuda: bool) -> dict[str, float]:
    from toolkit.outputs.task import usable_cpus

    n_points = args.points if kind == "mlp" or cuda else args.cnn_points
    paths = build_workload(root, kind, max(args.models, 100), max(n_points, args.memory_points))
    tasks = tasks_for(root, kind, paths[: args.models], n_points)
    arch, device = WORKLOADS[kind][0], "cuda" if cuda else "cpu"
    print(f"[{kind}] {args.models} {arch} models × {n_points} points, threads={args.threads}, best of {args.repeats}")
    naive_models, naive_points = 2, min(n_points, args.naive_points)
    cache, cache_j2 = root / f"cache_{kind}", root / f"cache_{kind}_j2"
    j2_threads = max(1, usable_cpus() // 2)  # what get_outputs -j 2 gives each worker thread
    runs = {
        "a": lambda: naive_rate(tasks, naive_models, naive_points),
        "b": lambda: bare_rate(tasks),
        "c1": lambda: outputs_rate(tasks, cache, jobs=1),
        "c2": lambda: outputs_rate(tasks, cache_j2, jobs=2),
        "e1": lambda: compute_ceiling(kind, tasks[0], device, 1, args.threads),
        "e2": lambda: compute_ceiling(kind, tasks[0], device, 2, j2_threads),
    }
    results: dict[str, list] = {k: [] for k in runs}
    for _ in range(args.repeats):  # interleaved, so a burst of load from elsewhere hits rates and ceilings alike
        shutil.rmtree(cache, ignore_errors=True), shutil.rmtree(cache_j2, ignore_errors=True)
        for key, fn in runs.items():
            results[key].append(busy(fn))
    (a, cores_a), (b, cores_b), (c1, cores_c1), (c2, cores_c2) = (
        max(results[k], key=lambda r: r[0]) for k in ("a", "b", "c1", "c2")
    )
    (e1, layers1, gemm1), (e2, _, gemm2) = (max((r[0] for r in results[k]), key=lambda r: r[0]) for k in ("e1", "e2"))
    d = best(lambda: outputs_rate(tasks, cache, jobs=1), args.repeats)  # cache left full by c1
    (m20, base20), (m100, base100) = (peak_rss_mib(root, kind, n, args.memory_points, args.threads) for n in (20, 100))
    for label, value, cores in [
        (f"(a) per-sample loop ({naive_models} models × {naive_points} points, extrapolated)", a, cores_a),
        ("(b) bare batched torch loop", b, cores_b),
        ("(c1) get_outputs jobs=1, empty cache", c1, cores_c1),
        ("(c2) get_outputs jobs=2, empty cache", c2, cores_c2),
        ("(d) get_outputs, warm cache", d, None),
    ]:
        load = f"  ({cores:.2f} cores busy)" if cores is not None else ""
        print(f"[{kind}] {label:<62} {value:14,.0f} points·models/s{load}")
    print(
        f"[{kind}] peak RSS, get_outputs on 20 / 100 models ({args.memory_points} points): {m20:.0f} / {m100:.0f} MiB "
        f"(+{m20 - base20:.0f} / +{m100 - base100:.0f} MiB over the process with torch and the toolkit imported)"
    )
    _print_ceiling(kind, args, (a, c1, c2), (e1, e2), layers1, (gemm1, gemm2), (cores_c1, j2_threads), cuda)
    return {
        "overhead": c1 / b,
        "speedup_j2": c2 / c1,
        "vs_naive": c1 / a,
        "warm_vs_cold": d / c1,
        "memory_100_vs_20": m100 / m20,
    }


def _print_ceiling(kind: str, args, rates, ceilings, layers, gemms, threads, cuda: bool) -> None:
    """The (e) lines: the ceilings, where c1 and c2 stand against them, and what that allows vs_naive."""
    (a, c1, c2), (e1, e2), (cores_c1, j2_threads) = rates, ceilings, threads
    where = "GPU" if cuda else f"{args.threads} thread{'s' if args.threads > 1 else ''}"
    per_layer = "/".join(f"{r / 1e9:,.0f}" for r in layers)
    print(
        f"[{kind}] (e) compute ceiling: {macs_per_point(kind):,} MACs per point, each conv/linear layer "
        f"timed alone as get_outputs runs it ({where}; layers {per_layer} GMAC/s, square GEMM "
        f"{gemms[0] / 1e9:,.0f}, each layer credited with the faster) = {e1:,.0f} points·models/s; "
        f"c1 runs at {c1 / e1:.0%} of it"
    )
    print(
        f"[{kind}] (e2) the same with 2 worker threads × {j2_threads} torch thread(s), as c2 runs "
        f"(square GEMM {gemms[1] / 1e9:,.0f} GMAC/s in all) = {e2:,.0f} points·models/s; c2 runs at {c2 / e2:.0%} of it"
    )
    if c1 > 1.02 * e1 or c2 > 1.02 * e2 or cores_c1 > args.threads + 0.25:
        print(
            f"[{kind}] WARNING: a run beat its measured ceiling or used more cores than it (c1 kept {cores_c1:.2f} "
            f"busy): the ceiling is no bound here, so no limit on vs_naive is claimed"
        )
        return
    print(
        f"[{kind}] so with these kernels vs_naive can reach at most {e1 / a:.1f} at {where} (it is {c1 / a:.2f}; the "
        f"per-sample loop runs at {a / e1:.0%} of the ceiling), speedup_j2 at most {e2 / c1:.2f}"
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--memory-child":
        return memory_child(*sys.argv[2:7])
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", type=int, default=20)
    p.add_argument("--points", type=int, default=10_000, help="points per model (MLP; CNN too on a GPU)")
    p.add_argument("--cnn-points", type=int, default=1_000, help="CNN points per model on a CPU")
    p.add_argument("--naive-points", type=int, default=200, help="points of the per-sample loop's subset")
    p.add_argument("--memory-points", type=int, default=50, help="points per model in the memory runs")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch threads for (a), (b), (c1)")
    p.add_argument("--primary", choices=sorted(WORKLOADS), default="cnn", help="architecture of the last line")
    p.add_argument("--only", choices=sorted(WORKLOADS), default=None, help="run one architecture")
    p.add_argument("--quick", action="store_true", help="100 CNN points, 20 memory points, 2 repeats")
    args = p.parse_args()
    if args.quick:
        args.cnn_points, args.repeats, args.naive_points, args.memory_points = 100, 2, 50, 20
    import torch

    torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available()
    kinds = [args.only] if args.only else [k for k in sorted(WORKLOADS) if k != args.primary] + [args.primary]
    with tempfile.TemporaryDirectory(prefix="bench_outputs_") as tmp:
        results = {kind: run_kind(Path(tmp), kind, args, cuda) for kind in kinds}
    for kind in kinds:
        print(
            " ".join(f"{k}={v:.2f}" for k, v in results[kind].items())
            if kind == kinds[-1]
            else f"[{kind}] " + " ".join(f"{k}={v:.2f}" for k, v in results[kind].items())
        )


if __name__ == "__main__":
    main()
