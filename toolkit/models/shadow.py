"""Shadow (reference) models for tracks that give no reference models: train our own.

Keep masks follow the LiRA reference code (Carlini et al. 2022, "Membership inference attacks
from first principles"): for every pool point draw a random permutation of the models and put the
point IN the first n_models/2 of them, so each pool point is IN for exactly half of the models
(balanced IN/OUT statistics for every point, which online LiRA needs).

Stages with files between them: ``keep.npy`` is written first, then one ``shadow_###.pt`` per
model (written atomically by ``save_model``); a re-run skips every model whose weights exist, so
a killed run resumes where it stopped.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from toolkit.errors import ConfigError
from toolkit.io import atomic_save_npy, sweep_stale_temporaries
from toolkit.models import build_model, save_model
from toolkit.models.training import TrainConfig, train_model

__all__ = ["balanced_keep", "shadow_paths", "train_shadows", "load_keep"]

KEEP_FILE = "keep.npy"


def balanced_keep(n_models: int, n_points: int, seed: int = 0, pool: np.ndarray | None = None) -> np.ndarray:
    """bool [n_models, n_points]: each point of ``pool`` (default: all) IN for exactly n_models/2 models.

    Vectorised LiRA trick: ranks of i.i.d. uniforms along the model axis are a uniform random
    permutation per point; rank < n_models/2 means IN. Points outside ``pool`` are never IN.
    """
    if n_models < 2 or n_models % 2:
        raise ConfigError(
            f"shadow models must come in an even number ≥ 2 (half IN, half OUT per point), got {n_models}"
        )
    rng = np.random.default_rng(seed)
    ranks = rng.random((n_models, n_points)).argsort(0).argsort(0)
    keep = ranks < n_models // 2
    if pool is not None:
        inside = np.zeros(n_points, dtype=bool)
        inside[np.asarray(pool, dtype=np.int64)] = True
        keep &= inside[None, :]
    return keep


def shadow_paths(out_dir: Path, n_models: int) -> list[Path]:
    """``<out_dir>/shadow_<i>.pt`` for each of ``n_models`` shadows."""
    return [Path(out_dir) / f"shadow_{i:03d}.pt" for i in range(n_models)]


def load_keep(out_dir: Path) -> np.ndarray:
    """The shadows' membership mask, bool [n_models, n_points]."""
    return np.load(Path(out_dir) / KEEP_FILE)


def _keep_for(out_dir: Path, n_models: int, n_points: int, seed: int, pool) -> np.ndarray:
    """Reuse the saved keep mask if it fits this run; refuse to mix masks from another run."""
    path = Path(out_dir) / KEEP_FILE
    keep = balanced_keep(n_models, n_points, seed, pool)
    if path.exists():
        saved = np.load(path)
        if saved.shape != keep.shape or not np.array_equal(saved, keep):
            raise ConfigError(
                f"{path} was made for another run (shape {saved.shape}, or other seed/pool)",
                "use another --shadow-dir or delete that folder",
            )
        return saved
    atomic_save_npy(path, keep)
    return keep


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
    progress: bool = True,
) -> tuple[list[Path], np.ndarray]:
    """Train (or resume) ``n_models`` shadows on balanced halves of ``pool``; return (paths, keep).

    ``inputs`` [N, ...] and ``labels`` int64 [N] are the whole population; ``keep`` is bool
    [n_models, N] with False outside ``pool``. Model i is trained with seed ``cfg.seed + i``.
    """
    import torch
    from tqdm import tqdm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sweep_stale_temporaries([out_dir])  # what a killed run left, once old enough not to be a live run's
    keep = _keep_for(out_dir, n_models, len(labels), seed, pool)
    paths = shadow_paths(out_dir, n_models)
    todo = [i for i, p in enumerate(paths) if not p.exists()]
    for i in tqdm(todo, desc="shadows", unit="model", disable=not progress, leave=False):
        model = build_model(architecture, n_classes, seed=cfg.seed + i)
        idx = np.flatnonzero(keep[i])
        x = torch.from_numpy(np.ascontiguousarray(inputs[idx]))
        y = torch.from_numpy(np.asarray(labels[idx], dtype=np.int64))
        train_model(model, x, y, replace(cfg, seed=cfg.seed + i))
        save_model(model.cpu(), paths[i])
    return paths, keep
