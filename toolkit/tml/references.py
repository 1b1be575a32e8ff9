"""The ResNet18 task's shadow models: trained by default within a time budget, checked against the target.

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

from pathlib import Path

import numpy as np

from toolkit.errors import ConfigError
from toolkit.references.check import match_grid, shadow_check

__all__ = [
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
    shadow_dir: Path,
    n_shadows: int,
    cfg,
    *,
    pool: str = "all",
    seed: int = 0,
    budget_s: float | None = None,
    progress: bool = True,
    architecture: str = "resnet18_44",
):
    """Shadow ResNet18s on paired halves of ``pool``: 'pub' or 'all' (pub + priv, labels known).

    'all' makes every point, private ones included, IN for half of the shadows, so LiRA is online
    on both sets and the public validation describes the private scores; with 'pub' the private
    points only have OUT shadows. With ``budget_s`` at most ``n_shadows`` are trained, as many as the budget holds.
    """
    from toolkit.references.runner import train_shadows

    if pool not in ("pub", "all"):
        raise ConfigError(f"unknown shadow pool {pool!r}; valid: pub, all")
    inputs = np.concatenate([task.pub.images, task.priv.images])  # the population, as ``load_population`` reads it
    labels = np.concatenate([task.pub.labels, task.priv.labels])
    idx = np.arange(len(task.pub)) if pool == "pub" else np.arange(len(labels))
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
        folder = shadow_folder(task.folder, probe, architecture, pool, seed, root)
        paths, keep = train_task_shadows(
            task, folder, 2, probe, pool=pool, seed=seed, progress=progress, architecture=architecture
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
