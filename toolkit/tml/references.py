"""The ResNet18 task's shadow models: trained by default within a time budget, checked against the target.

``shadow_stage`` is the pipeline's shadow stage: the ``[shadow]`` settings (searched first with
``--match``), their folder, and the shadows trained there or reused.

The organisers give one target and no reference models, so the toolkit trains its own ResNet18s
on paired halves of pub + priv, through the one reference runner (``references.runner.train_shadows``),
in the track's ``[shadow]`` settings. Each setting has its own folder under ``<task>_shadows/``
(named by its ``training_key``), so two settings never mix and a later run reuses what an earlier one trained.

``references.check.shadow_check`` compares the shadows with the target on the public set, where the
target's membership is known; ``match_training`` tries a small grid (``shadow_grid``:
epochs, learning rates and label smoothing), one pair of shadows each, and keeps the settings whose
shadows come closest (the 2026 teams found label smoothing 0.06 closest to that year's target).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from toolkit.errors import ConfigError
from toolkit.references.check import match_grid, shadow_check
from toolkit.tracks import ShadowTraining

__all__ = [
    "shadow_stage",
    "DEFAULT_BUDGET_MIN",
    "MAX_SHADOWS",
    "default_train_config",
    "shadow_folder",
    "train_task_shadows",
    "match_grid",
    "shadow_grid",
    "match_training",
]

SMOOTHING = 0.06  # the label smoothing --match tries where the [shadow] settings have none

DEFAULT_BUDGET_MIN = 22.0  # shadow training; with outputs and validation a 4,000 + 4,000 task stays under 30 min
MAX_SHADOWS = 64  # LiRA's gains flatten well before this


def default_train_config(sh, seed: int = 0, epochs: int | None = None):
    """The ``[shadow]`` table as a ``TrainConfig`` on the best device here."""
    from toolkit.models import default_device
    from toolkit.references.training import train_config

    return train_config(sh, seed=seed, epochs=epochs, device=default_device())


def shadow_folder(task_folder: Path, cfg, architecture: str, pool: str, seed: int, root: Path | None = None) -> Path:
    """``<root or <task>_shadows>/<training key>``: one folder per training settings, beside the task by default."""
    from toolkit.references.folder import training_key

    folder = Path(task_folder).resolve()
    base = Path(root) if root else folder.parent / f"{folder.name}_shadows"
    return base / training_key(cfg, architecture, pool, seed)


def train_task_shadows(
    task,
    shadow_dir: Path | None,
    n_shadows: int,
    cfg,
    *,
    pool: str = "all",
    seed: int = 0,
    budget_s: float | None = None,
    progress: bool = True,
    architecture: str = "resnet18_44",
    root: Path | None = None,
):
    """Shadow ResNet18s on paired halves of ``pool``: 'pub' or 'all' (pub + priv, labels known).

    'all' makes every point, private ones included, IN for half of the shadows, so LiRA is online
    on both sets and the public validation describes the private scores; with 'pub' the private
    points only have OUT shadows. With ``budget_s`` at most ``n_shadows`` are trained, as many as the budget holds.
    ``shadow_dir`` None trains in the settings' own folder under ``root`` (``shadow_folder``).
    """
    from toolkit.references.runner import train_shadows

    if pool not in ("pub", "all"):
        raise ConfigError(f"unknown shadow pool {pool!r}; valid: pub, all")
    inputs = np.concatenate([task.pub.images, task.priv.images])  # the population, as ``load_population`` reads it
    labels = np.concatenate([task.pub.labels, task.priv.labels])
    idx = np.arange(len(task.pub)) if pool == "pub" else np.arange(len(labels))
    if shadow_dir is None:
        shadow_dir = shadow_folder(task.folder, cfg, architecture, pool, seed, root)
    return train_shadows(
        shadow_dir,
        inputs,
        labels,
        n_shadows,
        cfg,
        architecture=architecture,
        n_classes=task.layout.n_classes,
        pool=idx,
        seed=seed,
        budget_s=budget_s,
        progress=progress,
    )


def shadow_stage(task, s, collect):
    """(paths, keep, info): none for ``s.shadows == 0``; else trained or reused (within the budget if it is None).

    ``s`` is the run's ``TMLSettings``; ``collect(paths, keep)`` returns the task's outputs with those shadows
    (``--match`` checks each setting's pair against the target with them).
    """
    if s.shadows == 0:
        return [], None, {"n": 0}
    arch = s.track.architecture
    cfg = s.train or default_train_config(ShadowTraining(), s.seed)
    info = {"pool": s.pool}
    if s.match:
        cfg, info["match"] = match_training(
            task, cfg, collect, root=s.shadow_dir, pool=s.pool, seed=s.seed, architecture=arch, progress=s.progress
        )
    folder = (
        shadow_folder(task.folder, cfg, arch, s.pool, s.seed, s.shadow_dir)
        if s.match or not s.shadow_dir
        else s.shadow_dir
    )
    budget_s = None if s.shadows else s.budget_s
    start = time.perf_counter()
    paths, keep = train_task_shadows(
        task,
        Path(folder),
        s.shadows or s.max_shadows,
        cfg,
        pool=s.pool,
        seed=s.seed,
        budget_s=budget_s,
        progress=s.progress,
        architecture=arch,
    )
    if not paths:
        info["note"] = "no pair of shadows fits the budget (a probe timed two training steps); --shadows 2 trains one"
    info.update(
        n=len(paths),
        dir=str(folder),
        budget_s=budget_s,
        seconds_this_run=time.perf_counter() - start,
        train=_finite(asdict(cfg)),
    )
    return paths, keep, info


def _finite(d: dict) -> dict:
    """Strict JSON has no Infinity: write ε = inf as the string 'inf'."""
    return {k: (str(v) if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


def shadow_grid(cfg) -> list:
    """``match_grid``'s epochs × lr, then label smoothing toggled at ``cfg``'s epochs and lr (6 settings)."""
    from dataclasses import replace

    return match_grid(cfg) + [replace(cfg, label_smoothing=0.0 if cfg.label_smoothing else SMOOTHING)]


def match_training(task, cfg, collect, *, root=None, pool="all", seed=0, architecture="resnet18_44", progress=True):
    """Train one pair of shadows per grid point; return (the settings closest to the target, a row per point).

    ``collect(paths, keep)`` returns the task's outputs with those shadows (``collect_outputs``).
    Each probe pair is the first pair of its settings' folder, so the chosen settings' run reuses it.
    """
    rows, best = [], None
    for probe in shadow_grid(cfg):
        paths, keep = train_task_shadows(
            task, None, 2, probe, pool=pool, seed=seed, progress=progress, architecture=architecture, root=root
        )
        check = shadow_check(collect(paths, keep))
        rows.append(
            {
                "epochs": probe.epochs,
                "lr": probe.lr,
                "label_smoothing": probe.label_smoothing,
                "distance": check["distance"],
                "verdict": check["verdict"],
            }
        )
        if best is None or check["distance"] < best[1]:
            best = (probe, check["distance"])
    return best[0], rows
