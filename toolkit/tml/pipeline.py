"""The ResNet18 public/private track: outputs, attack, leaderboard-aware validation, CSV.

One target, a public set whose membership is real for that target, a private set to score.
The main attack is supervised (``ensemble`` trained on the target's own public outputs, as the
best public reports did); shadow-model LiRA/RMIA are optional comparisons.

Validation (``validate``) is what the board cannot give: out-of-fold scores on the public set
(train on k−1 folds, score the held-out one), TPR@5%FPR under both the strict ``fpr < 0.05`` and
the inclusive ``fpr <= 0.05`` rule, AUC, a bootstrap CI, and the spread of the visible board:
the server scores a fixed 30% slice (3,000 members + 3,000 non-members), so we redraw such
slices from the out-of-fold scores many times (``simulate_leaderboard``).
"""

from __future__ import annotations

import io
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toolkit.attacks import attack_params, run_attack
from toolkit.data.tml import N_CLASSES, TMLTask, load_task
from toolkit.errors import ConfigError
from toolkit.io import atomic_write_bytes, atomic_write_text, sha256_file
from toolkit.metrics import bootstrap_ci, roc, tpr_at_fpr
from toolkit.tml.submission import normalise, write_submission_csv
from toolkit.tracks import ShadowTraining

__all__ = [
    "ARCH",
    "FPR",
    "TMLOutputs",
    "output_tasks",
    "collect_outputs",
    "train_task_shadows",
    "score_rows",
    "stratified_folds",
    "oof_scores",
    "simulate_leaderboard",
    "validate",
    "make_submission",
    "save_oof",
    "load_oof",
]

ARCH = "resnet18_44"
FPR = 0.05
TRAIN_ARGS = ("train_logits", "train_labels", "train_membership")


@dataclass(frozen=True)
class TMLOutputs:
    """Everything an attack needs, over the population (pub rows first, then priv rows)."""

    ids: np.ndarray  # int64 [N]
    labels: np.ndarray  # int64 [N]
    membership: np.ndarray  # int8 [N], −1 on priv
    n_pub: int
    target: np.ndarray  # float32 [N, V, C]
    ref: np.ndarray  # float32 [R, N, V, C]
    keep: np.ndarray  # bool [R, N]


def output_tasks(task: TMLTask, model_paths, views=("orig",), batch_size: int = 1024, architecture: str = ARCH):
    """One ``OutputTask`` per model over the whole population (pub then priv)."""
    from toolkit.outputs import OutputTask

    n = len(task.pub) + len(task.priv)
    return [
        OutputTask(
            Path(p),
            architecture,
            N_CLASSES,
            "tml",
            np.arange(n, dtype=np.int64),
            tuple(views),
            str(task.folder),
            None,
            batch_size,
        )
        for p in model_paths
    ]


def collect_outputs(
    task: TMLTask,
    shadow_paths=(),
    keep=None,
    *,
    views=("orig",),
    cache_dir=None,
    jobs: int = 1,
    progress: bool = True,
    architecture: str = ARCH,
) -> TMLOutputs:
    """Target and shadow logits through the content-addressed cache (``get_outputs``)."""
    from toolkit.outputs import get_outputs, load_outputs

    paths = get_outputs(
        output_tasks(task, [task.model_path, *shadow_paths], views, architecture=architecture),
        jobs=jobs,
        cache_dir=cache_dir,
        progress=progress,
    )
    arrays = load_outputs(paths)  # models first: the target, then the shadows
    n = len(task.pub) + len(task.priv)
    ref = arrays[1:]
    keep = np.zeros((0, n), bool) if keep is None else np.asarray(keep, bool)
    if keep.shape != (len(ref), n):
        raise ConfigError(f"keep mask {keep.shape} does not match {len(ref)} shadow models × {n} points")
    return TMLOutputs(
        np.concatenate([task.pub.ids, task.priv.ids]),
        np.concatenate([task.pub.labels, task.priv.labels]),
        np.concatenate([task.pub.membership, task.priv.membership]),
        len(task.pub),
        arrays[0],
        ref,
        keep,
    )


def train_task_shadows(
    task: TMLTask,
    shadow_dir: Path,
    n_shadows: int,
    cfg,
    *,
    pool: str = "all",
    seed: int = 0,
    progress: bool = True,
    architecture: str = ARCH,
):
    """Shadow ResNet18s on balanced halves of ``pool``: 'pub' or 'all' (pub + priv, labels known).

    'all' makes every point, private ones included, IN for half of the shadows, so LiRA is online
    on both sets and the public validation describes the private scores; with 'pub' the private
    points only have OUT shadows.
    """
    from toolkit.data import load_population
    from toolkit.models.shadow import train_shadows

    if pool not in ("pub", "all"):
        raise ConfigError(f"unknown shadow pool {pool!r}; valid: pub, all")
    pop = load_population("tml", task.folder)
    idx = np.arange(len(task.pub)) if pool == "pub" else np.arange(len(pop))
    return train_shadows(
        shadow_dir,
        pop.inputs,
        pop.labels,
        n_shadows,
        cfg,
        architecture=architecture,
        n_classes=N_CLASSES,
        pool=idx,
        seed=seed,
        progress=progress,
    )


def score_rows(
    attack: str, params: dict, outs: TMLOutputs, rows: np.ndarray, train_rows: np.ndarray, seed: int = 0
) -> np.ndarray:
    """Scores of ``rows``; a supervised attack is trained on the target's ``train_rows`` (pub)."""
    params = dict(params)
    if set(TRAIN_ARGS) <= set(attack_params(attack)):
        params.update(
            train_logits=outs.target[train_rows],
            train_labels=outs.labels[train_rows],
            train_membership=outs.membership[train_rows].astype(np.int64),
        )
    return run_attack(
        attack, outs.target[rows], outs.labels[rows], outs.ref[:, rows], outs.keep[:, rows], seed=seed, **params
    )


def stratified_folds(membership: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Fold id [n] in 0..k−1 with members and non-members spread evenly over the folds."""
    if k < 2:
        raise ConfigError(f"need at least 2 folds, got {k}")
    rng = np.random.default_rng(seed)
    folds = np.empty(len(membership), dtype=np.int64)
    for value in np.unique(membership):
        rows = rng.permutation(np.flatnonzero(membership == value))
        folds[rows] = np.arange(len(rows)) % k
    return folds


def oof_scores(attack: str, params: dict, outs: TMLOutputs, k: int = 5, seed: int = 0) -> np.ndarray:
    """Out-of-fold scores on the public set: fold f is scored by an attack trained on the others."""
    pub = np.arange(outs.n_pub)
    folds = stratified_folds(outs.membership[pub], k, seed)
    out = np.empty(outs.n_pub)
    for f in range(k):
        out[folds == f] = score_rows(attack, params, outs, pub[folds == f], pub[folds != f], seed)
    return out


def simulate_leaderboard(labels, scores, *, frac: float = 0.3, n_sims: int = 200, seed: int = 0) -> dict:
    """TPR@5%FPR on random slices of ``frac`` of each class (the board's 3,000 + 3,000 of 10,000 + 10,000).

    Returns mean, std, 5th and 95th percentiles over ``n_sims`` slices (strict rule).
    """
    y = np.asarray(labels).astype(np.int64)
    s = np.asarray(scores, dtype=np.float64)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    m = max(1, int(round(frac * min(len(pos), len(neg)))))
    rng = np.random.default_rng(seed)
    vals = np.empty(n_sims)
    for i in range(n_sims):  # one ROC per simulated slice; each is vectorised
        rows = np.concatenate([rng.choice(pos, m, replace=False), rng.choice(neg, m, replace=False)])
        vals[i] = tpr_at_fpr(*roc(y[rows], s[rows]), FPR, strict=True)
    p5, p95 = np.percentile(vals, [5, 95])
    return {
        "per_class": m,
        "n_sims": n_sims,
        "mean": float(vals.mean()),
        "std": float(vals.std()),
        "p5": float(p5),
        "p95": float(p95),
    }


def validate(membership, scores, *, n_boot: int = 200, n_sims: int = 200, seed: int = 0) -> dict:
    """TPR@5%FPR (strict and inclusive), AUC, bootstrap CI and board-slice spread of ``scores``."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(membership).astype(np.int64)
    fpr, tpr = roc(y, scores)
    strict = lambda yy, ss: tpr_at_fpr(*roc(yy, ss), FPR, strict=True)
    est, lo, hi = bootstrap_ci(y, scores, strict, n_boot=n_boot, seed=seed)
    return {
        "tpr@5%fpr_strict": tpr_at_fpr(fpr, tpr, FPR, strict=True),
        "tpr@5%fpr_inclusive": tpr_at_fpr(fpr, tpr, FPR, strict=False),
        "auc": float(roc_auc_score(y, scores)),
        "tpr_ci95": [lo, hi],
        "board_slice": simulate_leaderboard(y, scores, n_sims=n_sims, seed=seed),
    }


def _shadows(task, n_shadows, shadow_dir, train_cfg, pool, seed, progress, architecture):
    if not n_shadows:
        return [], None
    import torch

    from toolkit.models.training import TrainConfig

    device = "cuda" if torch.cuda.is_available() else "cpu"
    sh = ShadowTraining()  # the [shadow] table's defaults
    cfg = train_cfg or TrainConfig(
        epochs=sh.epochs,
        batch_size=sh.batch_size,
        lr=sh.lr,
        optimizer=sh.optimizer,
        weight_decay=sh.weight_decay,
        seed=seed,
        device=device,
    )
    folder = Path(task.folder).resolve()  # default: beside the task, named after it, so two tasks never share one
    return train_task_shadows(
        task,
        Path(shadow_dir or folder.parent / f"{folder.name}_shadows"),
        n_shadows,
        cfg,
        pool=pool,
        seed=seed,
        progress=progress,
        architecture=architecture,
    )


def make_submission(
    task_dir: Path,
    out_dir: Path,
    n_shadows: int = 0,
    *,
    attack: str = "ensemble",
    params: dict | None = None,
    compare=("threshold", "lira", "rmia"),
    views=("orig",),
    folds: int = 5,
    seed: int = 0,
    shadow_dir: Path | None = None,
    train_cfg=None,
    pool: str = "all",
    cache_dir: Path | None = None,
    jobs: int = 1,
    run_name: str | None = None,
    n_boot: int = 200,
    n_sims: int = 200,
    progress: bool = True,
    track_name: str = "resnet18",
    architecture: str = ARCH,
) -> dict:
    """Outputs → (optional shadows) → out-of-fold validation → private scores → CSV + manifest.

    Writes ``<out_dir>/<run>.csv``, ``<run>.manifest.json`` and ``<run>.scores.npz`` (``save_oof``);
    returns the manifest (with ``csv`` and ``manifest`` paths). ``compare`` attacks are validated for the report only
    (reference attacks are skipped when there are no shadows).
    """
    params = dict(params or {})
    task = load_task(task_dir)
    paths, keep = _shadows(task, n_shadows, shadow_dir, train_cfg, pool, seed, progress, architecture)
    outs = collect_outputs(
        task, paths, keep, views=views, cache_dir=cache_dir, jobs=jobs, progress=progress, architecture=architecture
    )
    pub_y = outs.membership[: outs.n_pub]
    figures, oof = {}, {}
    for name, p in [(attack, params)] + [(c, {}) for c in compare if c != attack]:
        if name in ("lira", "rmia") and not n_shadows:
            continue
        oof[name] = oof_scores(name, p, outs, folds, seed)
        figures[name] = validate(pub_y, oof[name], n_boot=n_boot, n_sims=n_sims, seed=seed)
    priv = np.arange(outs.n_pub, len(outs.ids))
    scores = normalise(score_rows(attack, params, outs, priv, np.arange(outs.n_pub), seed))
    run = run_name or time.strftime("%Y%m%d-%H%M%S")
    csv_path = write_submission_csv(Path(out_dir) / f"{run}.csv", outs.ids[priv], scores, task.priv.ids)
    manifest = _manifest(task, track_name, attack, params, n_shadows, views, folds, seed, pool, train_cfg, figures)
    manifest.update(
        csv=str(csv_path),
        csv_sha256=sha256_file(csv_path),
        scores=str(save_oof(csv_path.with_suffix(".scores.npz"), pub_y, oof)),
    )
    man_path = csv_path.with_suffix(".manifest.json")
    atomic_write_text(man_path, json.dumps(manifest, indent=2, default=_json_default) + "\n")
    return {**manifest, "manifest": str(man_path)}


def save_oof(path: Path, membership: np.ndarray, oof: dict[str, np.ndarray]) -> Path:
    """``<run>.scores.npz`` beside the CSV: the public set's membership and each attack's out-of-fold scores."""
    buf = io.BytesIO()
    np.savez(buf, membership=np.asarray(membership), **{f"oof/{k}": v for k, v in oof.items()})
    atomic_write_bytes(Path(path), buf.getvalue())
    return Path(path)


def load_oof(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(public membership, {attack: out-of-fold scores}) of a ``<run>.scores.npz``."""
    with np.load(path) as data:
        return data["membership"], {k.split("/", 1)[1]: data[k] for k in data.files if k.startswith("oof/")}


def _manifest(task, track_name, attack, params, n_shadows, views, folds, seed, pool, train_cfg, figures) -> dict:
    from dataclasses import asdict

    from toolkit.provenance import manifest_base

    return {
        **manifest_base(),
        "track": track_name,
        "recipe": {"attack": attack, **params},
        "seed": seed,
        "views": list(views),
        "folds": folds,
        "shadows": {"n": n_shadows, "pool": pool, "train": _finite(asdict(train_cfg)) if train_cfg else None},
        "task_dir": str(Path(task.folder).resolve()),  # where `mia upload` finds the private ids to check
        "inputs": {
            p.name: sha256_file(p) for p in (task.folder / "pub.pt", task.folder / "priv_out.pt", task.model_path)
        },
        "validation": figures,
        "estimate": figures.get(attack),
    }


def _finite(d: dict) -> dict:
    """Strict JSON has no Infinity: write ε = inf as the string 'inf'."""
    return {k: (str(v) if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


def _json_default(obj):
    return obj.item() if isinstance(obj, (np.floating, np.integer)) else str(obj)
