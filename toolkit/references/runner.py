"""The one runner of every model trained to compare a target with, run the way ``get_outputs`` runs models.

A model to train is a ``TrainTask`` (population rows in training order, its ``TrainConfig``, a file):
MICO references, ddp's matched references, the ResNet18 task's shadows and a local challenge's
models alike. ``run_train_tasks`` trains the missing ones in processes here (several models per
step where the architecture allows: ``toolkit.models.group``) or on a Dask cluster, and writes each
file atomically, so a killed run resumes where it stopped and writes the same bytes. Beside the
weights it records each model's training seconds in its folder's ``seconds.json`` and, where asked,
the precision it trained in (``precision = "auto"`` decides per machine) in ``precision.json``,
written before the weights (a kill between re-trains the model and records it again).

``train_shadows`` trains a folder of paired shadows through it: ``recipe.json`` (the folder's
training record, ``references.folder``; a folder never mixes two settings) and ``keep.npy``
(``grow_keep``) first, then the models a pair at a time. A time budget bounds the count: pairs are
added while the training seconds of the whole folder (measured, and recorded so that later runs
know them) stay within the budget, so a re-run with the same budget trains nothing new and a
larger budget adds pairs. Before the first model of a folder, a probe of two training steps
estimates a model's cost: where even one pair would overrun the budget (a CIFAR-stem ResNet18 on
a CPU), none is trained.
"""

from __future__ import annotations

import io
import json
import math
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from toolkit.errors import ConfigError
from toolkit.io import atomic_save_npy, atomic_write_bytes, atomic_write_text, sweep_stale_temporaries
from toolkit.models.training import TrainConfig, train_model
from toolkit.references.folder import claim_folder, training_record
from toolkit.references.plan import check_even, paired_keep

__all__ = [
    "TrainTask",
    "fit_model",
    "train_task",
    "train_block",
    "run_train_tasks",
    "shadow_paths",
    "load_keep",
    "grow_keep",
    "shadow_train_tasks",
    "train_shadows",
    "probe_seconds",
    "read_seconds",
    "RECORDS",
]

SECONDS_FILE = "seconds.json"
PRECISION_FILE = "precision.json"  # per model: the precision it trained in and "auto"'s probe seconds
KEEP_FILE = "keep.npy"  # a shadow folder's membership mask of the models planned so far
RECORDS = ("seconds", "precision")
_GROUPED = {"precision": "fp32", "probe_seconds": {}}  # models trained together run their multiplies in fp32


@dataclass(frozen=True)
class TrainTask:
    """One model to train on population ``points`` (in that order) with ``cfg``; its weights go to ``out_path``."""

    out_path: Path
    architecture: str
    n_classes: int
    dataset: str
    points: np.ndarray = field(compare=False)  # int64 training indices into the population, in training order
    cfg: TrainConfig = TrainConfig()
    data_dir: str | None = None
    dataset_dir: str | None = None


def _arrays(task: TrainTask, population=None):
    """(inputs, labels) of the task's population: ``population`` where given, else its dataset read."""
    if population is not None:
        return population
    from toolkit.data import load_population

    pop = load_population(
        task.dataset, task.data_dir and Path(task.data_dir), task.dataset_dir and Path(task.dataset_dir)
    )
    return pop.inputs, pop.labels


def _state_bytes(model) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(model.cpu().state_dict(), buf)
    return buf.getvalue()


def fit_model(architecture: str, n_classes: int, inputs, labels, points, cfg: TrainConfig, *, init_seed=None, **shape):
    """A model of ``architecture`` initialised with ``init_seed`` (default ``cfg.seed``) and trained on rows
    ``points`` (in that order): every model the toolkit trains, one at a time, is trained here. ``shape`` goes to
    the architecture (a study's MLP width, say)."""
    import torch

    from toolkit.models import build_model

    idx = np.asarray(points, dtype=np.int64)
    model = build_model(architecture, n_classes, seed=cfg.seed if init_seed is None else init_seed, **shape)
    x = torch.from_numpy(np.ascontiguousarray(inputs[idx]))
    y = torch.from_numpy(np.asarray(labels[idx], dtype=np.int64))
    return train_model(model, x, y, cfg)


def _fit(task: TrainTask, inputs, labels):
    return fit_model(task.architecture, task.n_classes, inputs, labels, task.points, task.cfg)


def train_task(task: TrainTask) -> bytes:
    """Train one model (initialised and ordered by ``task.cfg.seed``); its state dict as bytes."""
    return _state_bytes(_fit(task, *_arrays(task)))


def _precision(model, inputs, cfg: TrainConfig) -> dict:
    """The precision ``model`` trained in ("auto"'s choice is memoised: no second probe) and the probe's seconds."""
    import torch

    from toolkit.models.precision import training_precision

    choice, probe = training_precision(model, torch.from_numpy(np.ascontiguousarray(inputs[:1])), cfg)
    return {"precision": choice, "probe_seconds": probe}


def _groupable(tasks: list[TrainTask]) -> bool:
    """Several models per step: same architecture, settings (but the seed) and training-set size, an MLP."""
    from toolkit.models.group import can_group

    first = tasks[0]
    same = all(
        t.architecture == first.architecture
        and replace(t.cfg, seed=0) == replace(first.cfg, seed=0)
        and len(t.points) == len(first.points)
        and (t.dataset, t.data_dir, t.dataset_dir) == (first.dataset, first.data_dir, first.dataset_dir)
        for t in tasks
    )
    return len(tasks) > 1 and same and can_group(first.architecture)


def train_block(tasks: list[TrainTask], threads: int | None = None, population=None) -> list[tuple[bytes, float, dict]]:
    """Train a block of models, at once where they can share each step; (weights, seconds, precision) each.

    ``population`` (inputs, labels), where given, stands for every task's dataset.
    """
    if threads:
        import torch

        torch.set_num_threads(threads)
    start = time.perf_counter()
    if _groupable(tasks):
        from toolkit.models.group import train_group

        first = tasks[0]
        inputs, labels = _arrays(first, population)
        points = [np.asarray(t.points, dtype=np.int64) for t in tasks]
        models = train_group(
            first.architecture, first.n_classes, inputs, labels, points, first.cfg, [t.cfg.seed for t in tasks]
        )
        each = (time.perf_counter() - start) / len(tasks)
        return [(_state_bytes(m), each, dict(_GROUPED)) for m in models]
    out = []
    for t in tasks:
        begin = time.perf_counter()
        inputs, labels = _arrays(t, population)
        model = _fit(t, inputs, labels)
        data = _state_bytes(model)
        out.append((data, time.perf_counter() - begin, _precision(model, inputs, t.cfg)))
    return out


def read_seconds(folder: Path) -> dict[str, float]:
    """The recorded training seconds of ``folder``'s models, by file name ({} where none or damaged)."""
    return {k: float(v) for k, v in _read_record(Path(folder) / SECONDS_FILE).items() if isinstance(v, (int, float))}


def _read_record(path: Path) -> dict:
    try:
        data = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError):
        return {}  # a damaged record only costs the estimate
    return data if isinstance(data, dict) else {}


def _record(path: Path, new: dict) -> None:
    """Add ``new`` to the JSON record at ``path`` (written whole, atomically)."""
    body = _read_record(path) | new
    atomic_write_text(path, json.dumps(body, indent=2, sort_keys=True) + "\n")


def run_train_tasks(
    tasks: list[TrainTask],
    *,
    jobs: int = 1,
    scheduler: str | None = None,
    group: int = 8,
    threads: int | None = None,
    progress: bool = True,
    desc: str = "references",
    population=None,
    records: tuple[str, ...] = ("seconds",),
) -> dict[Path, float]:
    """Train every task whose ``out_path`` is missing; return {file: training seconds} of those trained.

    Blocks of ``group`` consecutive tasks (fixed by position, so a resumed run forms the same blocks
    and writes the same bytes) train together in one process; ``jobs`` processes run blocks side by
    side, each with its share of the cores (``threads``: torch's threads for blocks trained in this
    process); ``scheduler`` sends single models to a Dask cluster instead. Each file is written
    atomically as its block finishes: a kill loses at most the blocks in flight. ``records``
    (of ``RECORDS``) go beside the weights: "seconds" to ``seconds.json``, "precision" to
    ``precision.json``. ``population`` (inputs, labels) stands for every task's dataset.
    """
    from tqdm import tqdm

    if set(records) - set(RECORDS):
        raise ConfigError(f"unknown training records {sorted(set(records) - set(RECORDS))}; valid: {RECORDS}")
    todo = [t for t in tasks if not Path(t.out_path).exists()]
    seconds: dict[Path, float] = {}
    if not todo:
        return seconds
    for folder in {Path(t.out_path).parent for t in todo}:
        folder.mkdir(parents=True, exist_ok=True)
        sweep_stale_temporaries([folder])
    bar = tqdm(total=len(todo), desc=desc, unit="model", disable=not progress, leave=False)
    if scheduler:
        from toolkit.outputs.cluster import run_training_on_cluster

        run_training_on_cluster(todo, scheduler, train_task, on_done=lambda: bar.update())
        bar.close()
        return seconds
    blocks = [tasks[i : i + group] for i in range(0, len(tasks), max(1, group))]
    blocks = [b for b in blocks if any(not Path(t.out_path).exists() for t in b)]

    def write(block, results):
        for t, (data, secs, precision) in zip(block, results):
            path = Path(t.out_path)
            if not path.exists():
                if "precision" in records:  # before the weights: a kill between re-trains the model
                    _record(path.parent / PRECISION_FILE, {path.name: precision})
                atomic_write_bytes(path, data)
                seconds[path] = secs
                if "seconds" in records:
                    _record(path.parent / SECONDS_FILE, {path.name: secs})
                bar.update()

    if jobs <= 1 or len(blocks) == 1:
        for block in blocks:
            write(block, train_block(block, threads, population))
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        each = max(1, (os.cpu_count() or 1) // jobs)
        with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn")) as pool:
            futures = {pool.submit(train_block, b, each, population): b for b in blocks}
            for fut in as_completed(futures):  # each block's files are written as soon as it finishes
                write(futures[fut], fut.result())
    bar.close()
    return seconds


def shadow_paths(out_dir: Path, n_models: int) -> list[Path]:
    """``<out_dir>/shadow_<i>.pt`` for each of ``n_models`` shadows."""
    return [Path(out_dir) / f"shadow_{i:03d}.pt" for i in range(n_models)]


def load_keep(out_dir: Path) -> np.ndarray:
    """The shadows' membership mask, bool [n_models, n_points]."""
    return np.load(Path(out_dir) / KEEP_FILE)


def grow_keep(out_dir: Path, keep: np.ndarray) -> None:
    """Make ``keep.npy`` hold at least the models of ``keep``; a saved mask must agree on the models both hold."""
    path = Path(out_dir) / KEEP_FILE
    if path.exists():
        saved = np.load(path)
        m = min(len(saved), len(keep))
        if saved.ndim != 2 or saved.shape[1] != keep.shape[1] or not np.array_equal(saved[:m], keep[:m]):
            raise ConfigError(
                f"{path} was made for another run (shape {saved.shape}, or other seed/pool)",
                "use another --shadow-dir or delete that folder",
            )
        if len(saved) >= len(keep):
            return
    atomic_save_npy(path, keep)


def shadow_train_tasks(
    out_dir: Path,
    keep: np.ndarray,
    cfg: TrainConfig,
    *,
    architecture: str,
    n_classes: int,
    dataset: str,
    data_dir: str | None = None,
    dataset_dir: str | None = None,
) -> list[TrainTask]:
    """The shadow models of ``keep`` bool [n_models, N] as tasks: model i trains on ``keep[i]`` with seed cfg.seed+i."""
    return [
        TrainTask(
            path,
            architecture,
            n_classes,
            dataset,
            np.flatnonzero(keep[i]),
            replace(cfg, seed=cfg.seed + i),
            data_dir,
            dataset_dir,
        )
        for i, path in enumerate(shadow_paths(out_dir, len(keep)))
    ]


def _pairs_within(paths: list[Path], seconds: dict[str, float], budget_s: float, estimate: float | None = None) -> int:
    """How many leading pairs fit the budget, by recorded seconds (the mean of them for untrained models).

    With nothing recorded, ``estimate`` (a probe's seconds per model) stands for every cost, and a
    first pair that would overrun the budget is not taken. Without it, a pair whose cost is unknown
    is taken while the folder's total is under budget: it is how the cost gets measured.
    """
    known = [seconds[p.name] for p in paths if p.name in seconds]
    mean = float(np.mean(known)) if known else estimate
    total = 0.0
    for j in range(len(paths) // 2):
        costs = [seconds.get(p.name, mean) for p in paths[2 * j : 2 * j + 2]]
        if None in costs:
            return j + (total < budget_s or j == 0)
        if (j > 0 or not known) and total + sum(costs) > budget_s:
            return j
        total += sum(costs)
    return len(paths) // 2


def probe_seconds(architecture: str, n_classes: int, inputs, labels, n_train: int, cfg: TrainConfig) -> float:
    """Estimated training seconds of one model on ``n_train`` rows: two steps timed (after two of warm-up,
    which also settle ``precision = auto``), times the steps of the whole run."""
    rows = np.arange(min(len(labels), 2 * cfg.batch_size))
    probe = replace(cfg, epochs=1, schedule="step", lr_step=0)
    fit_model(architecture, n_classes, inputs, labels, rows, probe)  # warm-up
    start = time.perf_counter()
    fit_model(architecture, n_classes, inputs, labels, rows, probe)
    per_step = (time.perf_counter() - start) / max(1, math.ceil(len(rows) / cfg.batch_size))
    return per_step * math.ceil(n_train / cfg.batch_size) * cfg.epochs


def train_shadows(
    out_dir: Path,
    inputs: np.ndarray,
    labels: np.ndarray,
    n_models: int,
    cfg: TrainConfig,
    *,
    architecture: str = "resnet18_44",
    n_classes: int = 44,
    pool: np.ndarray | None = None,
    seed: int = 0,
    budget_s: float | None = None,
    progress: bool = True,
) -> tuple[list[Path], np.ndarray]:
    """Train (or resume) up to ``n_models`` shadows on paired halves of ``pool``; return (paths, keep).

    ``inputs`` [N, ...] and ``labels`` int64 [N] are the whole population; ``keep`` is bool
    [n, N] with False outside ``pool``. Model i is trained with seed ``cfg.seed + i``. With
    ``budget_s`` the count n ≤ ``n_models`` is the largest even prefix whose training seconds fit
    the budget (module docstring): none where a probe says one pair would overrun it.
    """
    from tqdm import tqdm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    check_even(n_models)
    keep = paired_keep(n_models, len(labels), seed, pool)
    record = training_record(cfg, architecture, n_classes, seed, pool, len(labels))
    claim_folder(out_dir, record)
    tasks = shadow_train_tasks(out_dir, keep, cfg, architecture=architecture, n_classes=n_classes, dataset="")
    paths = [t.out_path for t in tasks]
    estimate = None
    if budget_s is not None and not read_seconds(out_dir) and not paths[0].exists():
        estimate = probe_seconds(architecture, n_classes, inputs, labels, len(tasks[0].points), cfg)
    bar = tqdm(total=n_models, desc="shadows", unit="model", disable=not progress, leave=False)
    n_done = 0
    while n_done < n_models:
        if budget_s is not None and _pairs_within(paths, read_seconds(out_dir), budget_s, estimate) * 2 <= n_done:
            break
        grow_keep(out_dir, keep[: n_done + 2])
        pair = tasks[n_done : n_done + 2]
        run_train_tasks(pair, group=1, progress=False, population=(inputs, labels), records=RECORDS)
        bar.update(2)
        n_done += 2
    bar.close()
    return paths[:n_done], keep[:n_done]
