"""A folder of shadow models, named and claimed by its training record: one folder never mixes two settings.

``training_record`` is what makes two shadow folders interchangeable: the settings that say what is
learnt (``references.training.settings_record``: not the device, seed or precision), the pool and the
seed; ``training_key`` is its short hash, a shadow folder's name; ``claim_folder`` sweeps what a killed
run left and writes the record as ``recipe.json``, or refuses a folder whose record differs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from toolkit.errors import ConfigError
from toolkit.io import atomic_write_text, sha256_bytes, sweep_stale_temporaries
from toolkit.models.training import TrainConfig
from toolkit.references.training import settings_record

__all__ = ["training_record", "training_key", "claim_folder", "LATER_DEFAULTS", "TRAINING_FILE"]

TRAINING_FILE = "recipe.json"  # a shadow folder's training record (the name on disk is kept)
# TrainConfig fields added after the first shadow folders: at these values a folder keeps its hash
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


def training_record(cfg: TrainConfig, architecture: str, n_classes: int, seed: int, pool, n_points: int) -> dict:
    """What makes two shadow folders interchangeable: the settings, the pool and the seed (not the device)."""
    pool_n = n_points if pool is None else len(np.asarray(pool))
    train = settings_record(cfg, LATER_DEFAULTS)
    return {"architecture": architecture, "n_classes": n_classes, "train": train, "seed": seed, "pool": pool_n}


def training_key(cfg: TrainConfig, architecture: str = "resnet18_44", pool: str = "all", seed: int = 0) -> str:
    """A short name for a shadow folder's settings: the hash of its training record."""
    rec = training_record(cfg, architecture, 0, seed, None, 0) | {"pool": pool}
    return sha256_bytes(json.dumps(rec, sort_keys=True).encode())[:10]


def claim_folder(out_dir: Path, record: dict) -> None:
    """Sweep what a killed run left (once old enough not to be a live run's), then the folder's training record:
    written where there is none, else it must be ``record``."""
    sweep_stale_temporaries([out_dir])
    path = out_dir / TRAINING_FILE
    if path.exists():
        saved = json.loads(path.read_text())
        if saved != record:
            diff = sorted(k for k in record if saved.get(k) != record[k])
            raise ConfigError(
                f"{out_dir} holds shadows made for another run (their recipe differs in {', '.join(diff)})",
                "use another --shadow-dir or delete that folder",
            )
    else:
        atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True) + "\n")
