"""Reference models of our own for a MICO-layout scenario (``mia references``).

The organisers' train-phase models are the references a MICO attack starts with, but a challenge
point is OUT of only a few of them (Purchase-100: ~24% of 100). MICO publishes the population and
the training code, so more can be trained: ``train_references`` trains N models in the track's
``[references]`` settings on the scenario's population, such that every challenge point of every
model of the scenario (all phases) is IN for exactly half of them: pair j splits the pool of
challenge points into a random half and its complement (as LiRA's reference code balances its
shadows), and fills each training set up to the scenario's n with rows drawn from the rest of the
population, in one fixed random order (the organisers' loaders keep one order too): the plans are
``toolkit.references.plan``'s, the runner ``toolkit.references.runner``'s (which records ``seconds.json``).

Files: ``<cache>/references/<key>/`` holds ``ref_###.pt``, ``recipe.json`` and ``seconds.json``;
the key hashes the training settings, the plan (pool, n, seed) and the population's fingerprint, so
two settings never mix and a larger N reuses the first models. ``runs/<track>/references/<scenario>.json``
says which folder the scenario uses, with how many models, and the check's verdict; the
attack stage reads it (no file: nothing changes).

Before use, the local models are compared with the provided train-phase models on the same points
(``check``): accuracy and loss quantiles of members and non-members, and per point the correlation
of the OUT mean. ``match`` searches a small grid of epochs and learning rates for the settings whose
models come closest to the provided ones.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from toolkit.errors import ConfigError, DataError
from toolkit.io import atomic_write_text, sha256_bytes
from toolkit.references.plan import MatchedPlan, PooledPlan
from toolkit.references.runner import TrainTask, read_seconds, run_train_tasks
from toolkit.references.training import settings_record, train_config
from toolkit.tracks import References, runs_dir

__all__ = [
    "LocalReferences",
    "reference_root",
    "reference_architecture",
    "reference_tasks",
    "train_references",
    "pointer_path",
    "save_pointer",
    "load_local",
    "TRAINABLE",
]

TRAINABLE = ("mico_mlp", "mico_cnn", "demo_mlp", "resnet18_44")  # what the trainer fits; RoBERTa needs HF's


def reference_root() -> Path:
    """``$MIA_CACHE_DIR/references`` (default ``.cache/references``)."""
    return Path(os.environ.get("MIA_CACHE_DIR", ".cache")) / "references"


@dataclass
class LocalReferences:
    """Trained reference models of one scenario: their files and membership at the scenario's points."""

    folder: Path
    paths: list[Path]
    plan: PooledPlan | MatchedPlan
    recipe: dict  # the training record (its pointer's key "recipe")
    check: dict | None = None

    def keep(self, points: np.ndarray) -> np.ndarray:
        return self.plan.keep(len(self.paths), points)


# TrainConfig fields added after reference folders existed: at these values they leave a folder's hash as it was
_LATER_DEFAULTS = {"nesterov": False, "schedule": "step", "label_smoothing": 0.0, "augment": ""}


def _training_record(refs: References, cfg, architecture: str) -> dict:
    """What names a reference folder (with its plan and population): the settings, the architecture, the seed."""
    return {"architecture": architecture, "train": settings_record(cfg, _LATER_DEFAULTS), "seed": refs.seed}


def _folder(sd, plan, training: dict, root: Path | None) -> Path:
    from toolkit.data import load_population

    pop = load_population(sd.track.dataset_of(sd.scenario), sd.data_dir, sd.dataset_dir)
    content = {"recipe": training, "plan": plan.describe(), "population": pop.fingerprint}
    return Path(root or reference_root()) / sha256_bytes(json.dumps(content, sort_keys=True).encode())[:16]


def reference_architecture(track, scenario, refs: References) -> str:
    """The architecture references of ``scenario`` are trained as, or a ConfigError where the trainer has none."""
    arch = refs.architecture or track.architecture_of(scenario)
    if arch not in TRAINABLE:
        raise ConfigError(
            f"the toolkit's trainer cannot train {arch} references (scenario {scenario.name})",
            f"it trains {', '.join(TRAINABLE)}; use the provided models alone",
        )
    return arch


def pooled_plan(sd, refs: References) -> PooledPlan:
    """The plan of a scenario: its pool of challenge points, checked against its population."""
    pool = sd.union_points()
    N = sd.population_size
    if len(pool) and (pool.min() < 0 or pool.max() >= N):
        raise DataError(
            f"scenario {sd.scenario.name}: challenge points reach row {int(pool.max()):,} but the population "
            f"has {N:,} rows",
            "the seed files and the dataset do not belong together",
        )
    return PooledPlan(N, pool, refs.len_training or sd.track.len_training_of(sd.scenario), refs.seed)


def reference_tasks(sd, n_models: int, refs: References, *, plan=None, root: Path | None = None, device: str = "cpu"):
    """(LocalReferences, TrainTasks): ``n_models`` references of ``sd`` trained as ``refs`` says (none yet)."""
    if n_models < 2 or n_models % 2:
        raise ConfigError(
            f"references come in pairs (half IN, half OUT per point): -n must be even ≥ 2, got {n_models}"
        )
    arch = reference_architecture(sd.track, sd.scenario, refs)
    plan = plan or pooled_plan(sd, refs)
    cfg = train_config(refs, epsilon=sd.scenario.epsilon, device=device)
    training = _training_record(refs, cfg, arch)
    folder = _folder(sd, plan, training, root)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "recipe.json", json.dumps({**training, "plan": plan.describe()}, indent=2) + "\n")
    paths = [folder / f"ref_{i:03d}.pt" for i in range(n_models)]
    tasks = [
        TrainTask(
            p,
            arch,
            sd.track.n_classes_of(sd.scenario),
            sd.track.dataset_of(sd.scenario),
            plan.training_set(i),
            replace(cfg, seed=(refs.seed * 1_000_003 + i) % (2**31)),
            str(sd.data_dir) if sd.data_dir else None,
            str(sd.dataset_dir) if sd.dataset_dir else None,
        )
        for i, p in enumerate(paths)
    ]
    return LocalReferences(folder, paths, plan, training), tasks


def train_references(
    sd,
    n_models: int,
    refs: References,
    *,
    plan=None,
    jobs: int = 1,
    scheduler: str | None = None,
    progress: bool = True,
    root: Path | None = None,
    device: str = "cpu",
) -> LocalReferences:
    """Train (or resume) ``n_models`` references of scenario ``sd`` trained as ``refs`` says; return them."""
    sd.check_population()
    local, tasks = reference_tasks(sd, n_models, refs, plan=plan, root=root, device=device)
    run_train_tasks(tasks, jobs=jobs, scheduler=scheduler, progress=progress)
    return local


def seconds_per_model(local: LocalReferences) -> float | None:
    """The mean recorded training seconds of the folder's models (None if none were timed here)."""
    names = {p.name for p in local.paths}
    known = [v for k, v in read_seconds(local.folder).items() if k in names]
    return float(np.mean(known)) if known else None


def pointer_path(track, scenario) -> Path:
    """``runs/<track>/references/<scenario>.json``: which references the scenario's attacks use."""
    return runs_dir(track) / "references" / f"{scenario.name}.json"


def save_pointer(sd, local: LocalReferences) -> Path:
    """Write the scenario's pointer to its local references (folder, files, plan, training record, check) atomically."""
    path = pointer_path(sd.track, sd.scenario)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "folder": str(local.folder.resolve()),
        "n_models": len(local.paths),
        "recipe": local.recipe,
        "plan": local.plan.describe(),
        "check": local.check,
    }
    atomic_write_text(path, json.dumps(body, indent=2) + "\n")
    return path


def load_local(sd) -> LocalReferences | None:
    """The scenario's local references named by its pointer file, or None where there is none.

    The plan is rebuilt from the scenario (its points may not have changed: the pool's hash must
    agree), and every model file must be there.
    """
    path = pointer_path(sd.track, sd.scenario)
    if not path.is_file():
        return None
    try:
        body = json.loads(path.read_text())
        folder, n = Path(body["folder"]), int(body["n_models"])
        saved = body["plan"]
        plan = PooledPlan(sd.population_size, sd.union_points(), int(saved["len_training"]), int(saved["seed"]))
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"{path} is not a references pointer", "delete it or run `mia references` again") from None
    if plan.describe() != saved:
        raise DataError(
            f"{path}: its references were trained for other challenge points than {sd.root} holds",
            "run `mia references` again for this challenge",
        )
    paths = [folder / f"ref_{i:03d}.pt" for i in range(n)]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise DataError(
            f"{len(missing)} of the {n} reference models named by {path} are missing (first: {missing[0]})",
            "run `mia references` again to finish them",
        )
    return LocalReferences(folder, paths, plan, body["recipe"], body.get("check"))
