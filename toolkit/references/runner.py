"""The one trainer every kind uses, run the way ``get_outputs`` runs models: many at once, resumable.

A model to train is a ``TrainTask`` (population rows in training order, a recipe, a seed, a file).
``run_train_tasks`` trains the missing ones in processes here (several models per step where the
architecture allows: ``toolkit.models.group``) or on a Dask cluster, and writes each file atomically,
so a killed run resumes where it stopped and writes the same bytes.
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from toolkit.io import atomic_write_bytes, sweep_stale_temporaries
from toolkit.references.plan import fit_model, shadow_paths
from toolkit.models.training import TrainConfig

__all__ = ["TrainTask", "train_task", "train_block", "run_train_tasks", "shadow_train_tasks"]


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


def _population(task: TrainTask):
    from toolkit.data import load_population

    return load_population(
        task.dataset, task.data_dir and Path(task.data_dir), task.dataset_dir and Path(task.dataset_dir)
    )


def _state_bytes(model) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(model.cpu().state_dict(), buf)
    return buf.getvalue()


def train_task(task: TrainTask) -> bytes:
    """Train one model (initialised and ordered by ``task.cfg.seed``); its state dict as bytes."""
    pop = _population(task)
    return _state_bytes(fit_model(task.architecture, task.n_classes, pop.inputs, pop.labels, task.points, task.cfg))


def _groupable(tasks: list[TrainTask]) -> bool:
    """Several models per step: same architecture, recipe (but the seed) and training-set size, an MLP."""
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


def train_block(tasks: list[TrainTask], threads: int | None = None) -> list[tuple[bytes, float]]:
    """Train a block of models, at once where they can share each step; (weights, seconds per model) each."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    start = time.perf_counter()
    if _groupable(tasks):
        from toolkit.models.group import train_group

        first = tasks[0]
        pop = _population(first)
        models = train_group(
            first.architecture,
            first.n_classes,
            pop.inputs,
            pop.labels,
            [np.asarray(t.points, dtype=np.int64) for t in tasks],
            first.cfg,
            [t.cfg.seed for t in tasks],
        )
        each = (time.perf_counter() - start) / len(tasks)
        return [(_state_bytes(m), each) for m in models]
    out = []
    for t in tasks:
        begin = time.perf_counter()
        out.append((train_task(t), time.perf_counter() - begin))
    return out


def run_train_tasks(
    tasks: list[TrainTask],
    *,
    jobs: int = 1,
    scheduler: str | None = None,
    group: int = 8,
    progress: bool = True,
    desc: str = "references",
) -> dict[Path, float]:
    """Train every task whose ``out_path`` is missing; return {file: training seconds} of those trained.

    Blocks of ``group`` consecutive tasks (fixed by position, so a resumed run forms the same blocks
    and writes the same bytes) train together in one process; ``jobs`` processes run blocks side by
    side, each with its share of the cores; ``scheduler`` sends single models to a Dask cluster
    instead. Each file is written atomically as its block finishes: a kill loses at most the blocks
    in flight.
    """
    from tqdm import tqdm

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
        for t, (data, secs) in zip(block, results):
            if not Path(t.out_path).exists():
                atomic_write_bytes(Path(t.out_path), data)
                seconds[Path(t.out_path)] = secs
                bar.update()

    if jobs <= 1 or len(blocks) == 1:
        for block in blocks:
            write(block, train_block(block))
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        threads = max(1, (os.cpu_count() or 1) // jobs)
        with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn")) as pool:
            futures = {pool.submit(train_block, b, threads): b for b in blocks}
            for fut in as_completed(futures):  # each block's files are written as soon as it finishes
                write(futures[fut], fut.result())
    bar.close()
    return seconds


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
