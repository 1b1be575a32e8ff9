"""Shadow (reference) models for tracks that give no reference models: train our own.

Keep masks come in complementary pairs: for pair j a random half of the pool is IN for model 2j
and the other half for model 2j + 1, so every pool point is IN for exactly half of any even
prefix of the models (the balanced IN/OUT statistics online LiRA needs, as in Carlini et al.'s
reference code), and a folder grown from 8 to 16 shadows keeps its first 8 as they were.
(``balanced_keep``, the reference code's per-point permutation, is kept for fixed counts.)

Stages with files between them: ``recipe.json`` (how the shadows are trained; a folder never
mixes two recipes) and ``keep.npy`` are written first, then one ``shadow_###.pt`` per model
(written atomically by ``save_model``) and its training seconds in ``seconds.json``; a re-run
skips every model whose weights exist, so a killed run resumes where it stopped. The precision
each model trained in (``precision = "auto"`` decides per machine) goes to ``precision.json``: it is
how fast, not what is learnt, so it is not part of the recipe.

A time budget bounds the count: models are added a pair at a time while the training seconds of
the whole folder (measured, and recorded so that later runs know them) stay within the budget,
so a re-run with the same budget trains nothing new and a larger budget adds pairs. Before the
first model of a folder, a probe of two training steps estimates a model's cost: where even one
pair would overrun the budget (a CIFAR-stem ResNet18 on a CPU), none is trained.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from toolkit.errors import ConfigError
from toolkit.io import atomic_save_npy, atomic_write_text, sweep_stale_temporaries
from toolkit.models import build_model, save_model
from toolkit.models.training import TrainConfig, train_model

__all__ = [
    "balanced_keep",
    "paired_keep",
    "shadow_paths",
    "train_shadows",
    "load_keep",
    "recipe_key",
    "fit_model",
]

KEEP_FILE = "keep.npy"
RECIPE_FILE = "recipe.json"
SECONDS_FILE = "seconds.json"
PRECISION_FILE = "precision.json"  # per model: the precision it trained in and "auto"'s probe seconds
LATER_DEFAULTS = {
    "momentum": None,
    "lr_step": 0,
    "lr_gamma": 1.0,
    "order": "shuffle",
    "accountant": "rdp",
    "nesterov": False,
    "schedule": "step",
    "label_smoothing": 0.0,
    "augment": "",
}


def _check_even(n_models: int) -> None:
    if n_models < 2 or n_models % 2:
        raise ConfigError(
            f"shadow models must come in an even number ≥ 2 (half IN, half OUT per point), got {n_models}"
        )


def _pool_mask(n_points: int, pool) -> np.ndarray:
    inside = np.zeros(n_points, dtype=bool)
    inside[np.arange(n_points) if pool is None else np.asarray(pool, dtype=np.int64)] = True
    return inside


def balanced_keep(n_models: int, n_points: int, seed: int = 0, pool: np.ndarray | None = None) -> np.ndarray:
    """bool [n_models, n_points]: each point of ``pool`` (default: all) IN for exactly n_models/2 models.

    Vectorised LiRA trick: ranks of i.i.d. uniforms along the model axis are a uniform random
    permutation per point; rank < n_models/2 means IN. Points outside ``pool`` are never IN.
    """
    _check_even(n_models)
    rng = np.random.default_rng(seed)
    ranks = rng.random((n_models, n_points)).argsort(0).argsort(0)
    return (ranks < n_models // 2) & _pool_mask(n_points, pool)[None, :]


def paired_keep(n_models: int, n_points: int, seed: int = 0, pool: np.ndarray | None = None) -> np.ndarray:
    """bool [n_models, n_points]: pair j splits ``pool`` into a random half (model 2j) and its complement.

    Pair j's split depends on (seed, j) alone, so the mask of n models is a prefix of the mask of
    any larger count.
    """
    _check_even(n_models)
    inside = _pool_mask(n_points, pool)
    members = np.flatnonzero(inside)
    keep = np.zeros((n_models, n_points), dtype=bool)
    for j in range(n_models // 2):  # one permutation per pair of models, not per point
        half = np.random.default_rng([seed, j]).permutation(members)[: len(members) // 2]
        keep[2 * j, half] = True
        keep[2 * j + 1] = inside & ~keep[2 * j]
    return keep


def shadow_paths(out_dir: Path, n_models: int) -> list[Path]:
    """``<out_dir>/shadow_<i>.pt`` for each of ``n_models`` shadows."""
    return [Path(out_dir) / f"shadow_{i:03d}.pt" for i in range(n_models)]


def load_keep(out_dir: Path) -> np.ndarray:
    """The shadows' membership mask, bool [n_models, n_points]."""
    return np.load(Path(out_dir) / KEEP_FILE)


def _recipe(cfg: TrainConfig, architecture: str, n_classes: int, seed: int, pool, n_points: int) -> dict:
    """What makes two shadow folders interchangeable: the training recipe, the pool and the seed (not the device)."""
    train = {k: (str(v) if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(cfg).items()}
    del train["device"], train["seed"], train["precision"]  # how fast, not what is learnt
    for name, value in LATER_DEFAULTS.items():  # fields added later: a folder made before them keeps its hash
        if train.get(name) == value:
            del train[name]
    pool_n = n_points if pool is None else len(np.asarray(pool))
    return {"architecture": architecture, "n_classes": n_classes, "train": train, "seed": seed, "pool": pool_n}


def recipe_key(cfg: TrainConfig, architecture: str = "resnet18_44", pool: str = "all", seed: int = 0) -> str:
    """A short name for a shadow recipe (folder names): the recipe's hash."""
    from toolkit.io import sha256_bytes

    rec = _recipe(cfg, architecture, 0, seed, None, 0) | {"pool": pool}
    return sha256_bytes(json.dumps(rec, sort_keys=True).encode())[:10]


def _check_recipe(out_dir: Path, recipe: dict) -> None:
    path = out_dir / RECIPE_FILE
    if path.exists():
        saved = json.loads(path.read_text())
        if saved != recipe:
            diff = sorted(k for k in recipe if saved.get(k) != recipe[k])
            raise ConfigError(
                f"{out_dir} holds shadows made for another run (their recipe differs in {', '.join(diff)})",
                "use another --shadow-dir or delete that folder",
            )
    else:
        atomic_write_text(path, json.dumps(recipe, indent=2, sort_keys=True) + "\n")


def _keep_for(out_dir: Path, n_models: int, n_points: int, seed: int, pool) -> np.ndarray:
    """The mask of ``n_models``; a saved mask must agree on the models both hold, and grows with the count."""
    path = Path(out_dir) / KEEP_FILE
    keep = paired_keep(n_models, n_points, seed, pool)
    if path.exists():
        saved = np.load(path)
        m = min(len(saved), n_models)
        if saved.ndim != 2 or saved.shape[1] != n_points or not np.array_equal(saved[:m], keep[:m]):
            raise ConfigError(
                f"{path} was made for another run (shape {saved.shape}, or other seed/pool)",
                "use another --shadow-dir or delete that folder",
            )
        if len(saved) >= n_models:
            return keep
    atomic_save_npy(path, keep)
    return keep


def _seconds(out_dir: Path) -> dict[str, float]:
    path = out_dir / SECONDS_FILE
    try:
        data = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError):
        return {}  # a damaged timing file only costs the estimate
    return {k: float(v) for k, v in data.items() if isinstance(v, (int, float))} if isinstance(data, dict) else {}


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
    sweep_stale_temporaries([out_dir])  # what a killed run left, once old enough not to be a live run's
    _check_even(n_models)
    _check_recipe(out_dir, _recipe(cfg, architecture, n_classes, seed, pool, len(labels)))
    paths = shadow_paths(out_dir, n_models)
    seconds = _seconds(out_dir)
    estimate = None
    if budget_s is not None and not seconds and not paths[0].exists():
        n_train = int(paired_keep(2, len(labels), seed, pool)[0].sum())
        estimate = probe_seconds(architecture, n_classes, inputs, labels, n_train, cfg)
    bar = tqdm(total=n_models, desc="shadows", unit="model", disable=not progress, leave=False)
    n_done = 0
    while n_done < n_models:
        if budget_s is not None and _pairs_within(paths, seconds, budget_s, estimate) * 2 <= n_done:
            break
        _keep_for(out_dir, n_done + 2, len(labels), seed, pool)
        for i in (n_done, n_done + 1):
            if not paths[i].exists():
                seconds[paths[i].name] = _train_one(paths[i], inputs, labels, out_dir, cfg, i, architecture, n_classes)
                atomic_write_text(out_dir / SECONDS_FILE, json.dumps(seconds, indent=2, sort_keys=True) + "\n")
            bar.update(1)
        n_done += 2
    bar.close()
    keep = paired_keep(n_done, len(labels), seed, pool) if n_done else np.zeros((0, len(labels)), bool)
    return paths[:n_done], keep


def _train_one(path: Path, inputs, labels, out_dir: Path, cfg: TrainConfig, i: int, architecture, n_classes) -> float:
    """Train shadow ``i`` on its IN points; save it atomically; return its training seconds."""
    start = time.perf_counter()
    idx = np.flatnonzero(load_keep(out_dir)[i])
    model = fit_model(architecture, n_classes, inputs, labels, idx, replace(cfg, seed=cfg.seed + i))
    _record_precision(out_dir, path.name, model, inputs, cfg)  # before the weights: a kill between re-trains it
    save_model(model.cpu(), path)
    return time.perf_counter() - start


def _record_precision(out_dir: Path, name: str, model, inputs, cfg: TrainConfig) -> None:
    """Add model ``name``'s precision ("auto"'s choice is memoised: no second probe) to ``precision.json``."""
    import torch

    from toolkit.models.precision import training_precision

    choice, probe = training_precision(model, torch.from_numpy(np.ascontiguousarray(inputs[:1])), cfg)
    path = out_dir / PRECISION_FILE
    try:
        seen = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError):
        seen = {}  # a damaged record only loses the record
    seen = (seen if isinstance(seen, dict) else {}) | {name: {"precision": choice, "probe_seconds": probe}}
    atomic_write_text(path, json.dumps(seen, indent=2, sort_keys=True) + "\n")


def fit_model(architecture: str, n_classes: int, inputs, labels, points, cfg: TrainConfig):
    """A model of ``architecture`` initialised with ``cfg.seed`` and trained on rows ``points`` (in that order)."""
    import torch

    idx = np.asarray(points, dtype=np.int64)
    model = build_model(architecture, n_classes, seed=cfg.seed)
    x = torch.from_numpy(np.ascontiguousarray(inputs[idx]))
    y = torch.from_numpy(np.asarray(labels[idx], dtype=np.int64))
    return train_model(model, x, y, cfg)
