"""Build a local challenge in the MICO organisers' exact layout (``mia challenge build``).

``<data>/<task>/<scenario>/{train,dev,final}/model_<id>/`` holds ``model.pt`` and the seed files
each phase reveals (train: all three and ``solution.csv``; dev/final: ``seed_challenge``). The
dev/final answers go to ``<data>/answers/<task>/<scenario>/<phase>/model_<id>/solution.csv``,
read only by ``check``. Splits come from the seeds through ``randperm_mt``, so the built
challenge is read back by the same code that reads the organisers' archives.

Resumable: a model whose ``model.pt`` exists is skipped (weights are written last, atomically, by the
reference runner ``toolkit.references.runner``, one model per process, in the track's ``[build]`` settings).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from toolkit.errors import ConfigError
from toolkit.io import atomic_write_text, sweep_stale_temporaries
from toolkit.mico.challenge import PHASES, make_splits, write_solution
from toolkit.references.runner import TrainTask, run_train_tasks
from toolkit.references.training import train_config
from toolkit.tracks import Build, Scenario, Track

__all__ = ["answers_dir", "build_challenge", "ModelJob"]


def answers_dir(data_dir: Path, track: Track, scenario: Scenario) -> Path:
    """``<data>/answers/<task>/<scenario>``: the hidden dev/final solutions of a built challenge."""
    return Path(data_dir) / "answers" / track.task / (scenario.folder or scenario.name)


@dataclass(frozen=True)
class ModelJob:
    """One model to train: where it goes, its phase and id, and its three seeds."""

    track: Track
    scenario: Scenario
    phase: str
    model_id: int
    seeds: tuple[int, int, int]  # challenge, training, membership
    folder: Path
    answers: Path


def _jobs(track: Track, build: Build, data_dir: Path) -> list[ModelJob]:
    jobs = []
    counts = {"train": build.train_models, "dev": build.dev_models, "final": build.final_models}
    for k, sc in enumerate(track.scenarios):
        rng = np.random.default_rng([build.seed, k])
        root = Path(data_dir) / track.task / (sc.folder or sc.name)
        next_id = 0
        for phase in PHASES:
            for _ in range(counts[phase]):
                seeds = tuple(int(v) for v in rng.integers(0, 2**63 - 1, size=3, dtype=np.int64))
                jobs.append(
                    ModelJob(
                        track,
                        sc,
                        phase,
                        next_id,
                        seeds,
                        root / phase / f"model_{next_id}",
                        answers_dir(data_dir, track, sc) / phase / f"model_{next_id}",
                    )
                )
                next_id += 1
    return jobs


def _write_seeds(job: ModelJob, build: Build) -> TrainTask:
    """Write the seed files the job's phase reveals and its solution; the model to train, as a task."""
    track, sc = job.track, job.scenario
    splits = make_splits(track.population_size_of(sc), track.len_training_of(sc), track.m, *job.seeds)
    job.folder.mkdir(parents=True, exist_ok=True)
    sweep_stale_temporaries([job.folder, job.answers])  # a killed build's leftovers, once old enough
    names = ("seed_challenge", "seed_training", "seed_membership")
    revealed = names if job.phase == "train" else names[:2] if build.reveal_training else names[:1]
    for name, value in zip(names, job.seeds):
        if name in revealed:
            atomic_write_text(job.folder / name, f"{value}\n")
    target = job.folder if job.phase == "train" else job.answers
    write_solution(target / "solution.csv", splits.solution)
    cfg = train_config(build, seed=job.seeds[1] % (2**31), epsilon=sc.epsilon)
    arch, n_classes = track.architecture_of(sc), track.n_classes_of(sc)
    return TrainTask(job.folder / "model.pt", arch, n_classes, track.dataset_of(sc), splits.training_set(), cfg)


def build_challenge(
    track: Track,
    data_dir: Path,
    *,
    jobs: int = 1,
    train_models: int | None = None,
    dev_models: int | None = None,
    final_models: int | None = None,
    seed: int | None = None,
    progress: bool = True,
) -> Path:
    """Build (or finish building) the track's local challenge under ``data_dir``; return the task folder."""
    if track.build is None:
        raise ConfigError(f"track {track.name!r} has no [build] table: its challenge comes from the organisers")
    overrides = {
        k: v
        for k, v in dict(train_models=train_models, dev_models=dev_models, final_models=final_models, seed=seed).items()
        if v is not None
    }
    build = replace(track.build, **overrides)
    if build.train_models < 2 or build.dev_models < 1 or build.final_models < 1:
        raise ConfigError("a challenge needs at least 2 train models and 1 dev and 1 final model per scenario")
    todo = [j for j in _jobs(track, build, data_dir) if not (j.folder / "model.pt").exists()]
    tasks = [_write_seeds(job, build) for job in todo]  # the weights last: their presence marks a model as done
    threads = 1 if jobs <= 1 else max(1, (os.cpu_count() or 1) // jobs)
    run_train_tasks(tasks, jobs=jobs, group=1, threads=threads, progress=progress, desc="training", records=())
    return Path(data_dir) / track.task
