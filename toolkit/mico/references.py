"""Reference models of our own for a MICO-layout scenario (``mia references``).

The organisers' train-phase models are the references a MICO attack starts with, but a challenge
point is OUT of only a few of them (Purchase-100: ~24% of 100). MICO publishes the population and
the training code, so more can be trained: ``train_references`` trains N models in the track's
``[references]`` recipe on the scenario's population, such that every challenge point of every
model of the scenario (all phases) is IN for exactly half of them: pair j splits the pool of
challenge points into a random half and its complement (as LiRA's reference code balances its
shadows), and fills each training set up to the scenario's n with rows drawn from the rest of the
population, in one fixed random order (the organisers' loaders keep one order too).

Files: ``<cache>/references/<key>/`` holds ``ref_###.pt``, ``recipe.json`` and ``seconds.json``;
the key hashes the recipe, the plan (pool, n, seed) and the population's fingerprint, so two
recipes never mix and a larger N reuses the first models. ``runs/<track>/references/<scenario>.json``
says which folder the scenario uses, with how many models, and the recipe check's verdict; the
attack stage reads it (no file: nothing changes).

Before use, the local models are compared with the provided train-phase models on the same points
(``check``): accuracy and loss quantiles of members and non-members, and per point the correlation
of the OUT mean. ``match`` searches a small grid of epochs and learning rates for the recipe whose
models come closest to the provided ones.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from toolkit.errors import ConfigError, DataError
from toolkit.io import atomic_write_text, sha256_bytes
from toolkit.models.training import TrainConfig
from toolkit.references.runner import TrainTask, run_train_tasks
from toolkit.tracks import References, runs_dir

__all__ = [
    "PooledPlan",
    "MatchedPlan",
    "LocalReferences",
    "reference_root",
    "reference_architecture",
    "reference_tasks",
    "record_seconds",
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


@dataclass(frozen=True, eq=False)
class PooledPlan:
    """Reference i's training rows: half of the challenge-point pool (pair j's split) and filler rows.

    ``pool`` is the sorted union of the scenario's challenge points; the rest of each training set
    (n − |half| rows) is drawn without replacement from the population outside the pool. Where the
    pool holds over 2n points (a toy population such as the demo's), each model takes n of its half,
    so a point is IN for n/|pool| of the references instead of half (``in_rate``).
    """

    population_size: int
    pool: np.ndarray
    len_training: int
    seed: int = 0

    def __post_init__(self):
        inside = min(len(self.pool) - len(self.pool) // 2, self.len_training)
        if self.len_training - inside > self.population_size - len(self.pool):
            raise ConfigError(
                f"a reference of {self.len_training:,} rows needs {self.len_training - inside:,} rows "
                f"outside the {len(self.pool):,} challenge points, and the population has "
                f"{self.population_size - len(self.pool):,}",
                "lower len_training in [references]",
            )

    @property
    def in_rate(self) -> float:
        """The share of references each challenge point is IN for: ½, less where the pool is over 2n points."""
        return min(0.5, self.len_training / max(1, len(self.pool)))

    def describe(self) -> dict:
        return {
            "plan": "pooled",
            "population_size": self.population_size,
            "pool": sha256_bytes(np.asarray(self.pool, dtype=np.int64).tobytes())[:16],
            "pool_size": len(self.pool),
            "len_training": self.len_training,
            "seed": self.seed,
        }

    def _halves(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Pair j's IN pool points: a random half and its complement (each cut to n where the pool is over 2n)."""
        perm = np.random.default_rng([self.seed, j]).permutation(len(self.pool))
        cut, n = len(self.pool) // 2, self.len_training
        return self.pool[np.sort(perm[:cut][:n])], self.pool[np.sort(perm[cut:][:n])]

    def training_set(self, i: int) -> np.ndarray:
        """int64 population rows of reference ``i``, in its training order."""
        j, side = divmod(i, 2)
        inside = self._halves(j)[side]
        outside = np.setdiff1d(np.arange(self.population_size), self.pool, assume_unique=True)
        fill = np.random.default_rng([self.seed, j, side + 1]).choice(
            outside, size=self.len_training - len(inside), replace=False
        )
        rows = np.concatenate([inside, fill])
        return rows[np.random.default_rng([self.seed, j, side + 3]).permutation(len(rows))]

    def keep(self, n_models: int, points: np.ndarray) -> np.ndarray:
        """bool [n_models, len(points)]: reference membership at ``points`` (pool points only)."""
        out = np.zeros((n_models, len(points)), dtype=bool)
        for i in range(n_models):
            out[i] = np.isin(points, self._halves(i // 2)[i % 2])
        return out


@dataclass(frozen=True, eq=False)
class MatchedPlan:
    """References matched to one target (the ddp track): its known training rows plus half of its challenge.

    The target reveals ``seed_training``, so its training set is known but for which 100 of its 200
    challenge points are members. Reference i trains on a random half of the challenge points (pair
    j's split, first, as the organisers put members first) and then the target's other training rows,
    so each challenge point has IN and OUT references that differ from the target only there.
    """

    challenge: np.ndarray  # int64 [2m], the target's challenge points
    base: np.ndarray  # int64 [n − m], its known non-challenge training rows, in order
    seed: int = 0

    def describe(self) -> dict:
        digest = sha256_bytes(np.concatenate([self.challenge, self.base]).astype(np.int64).tobytes())[:16]
        return {"plan": "matched", "rows": digest, "seed": self.seed}

    def _halves(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        perm = np.random.default_rng([self.seed, j]).permutation(len(self.challenge))
        cut = len(self.challenge) // 2
        return self.challenge[perm[:cut]], self.challenge[perm[cut:]]

    def training_set(self, i: int) -> np.ndarray:
        return np.concatenate([self._halves(i // 2)[i % 2], self.base]).astype(np.int64)

    def keep(self, n_models: int, points: np.ndarray) -> np.ndarray:
        out = np.zeros((n_models, len(points)), dtype=bool)
        in_base = np.isin(points, self.base)
        for i in range(n_models):
            out[i] = in_base | np.isin(points, self._halves(i // 2)[i % 2])
        return out


@dataclass
class LocalReferences:
    """Trained reference models of one scenario: their files and membership at the scenario's points."""

    folder: Path
    paths: list[Path]
    plan: PooledPlan | MatchedPlan
    recipe: dict
    check: dict | None = None

    def keep(self, points: np.ndarray) -> np.ndarray:
        return self.plan.keep(len(self.paths), points)


# TrainConfig fields added after reference folders existed: at these values they leave a folder's hash as it was
_LATER_DEFAULTS = {"nesterov": False, "schedule": "step", "label_smoothing": 0.0, "augment": ""}


def _recipe_dict(refs: References, cfg, architecture: str) -> dict:
    train = {k: (str(v) if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(cfg).items()}
    del train["seed"], train["device"], train["precision"]  # precision: how fast, not what is learnt
    for name, value in _LATER_DEFAULTS.items():
        if train.get(name) == value:
            del train[name]
    return {"architecture": architecture, "train": train, "seed": refs.seed}


def _folder(sd, plan, recipe: dict, root: Path | None) -> Path:
    from toolkit.data import load_population

    pop = load_population(sd.track.dataset_of(sd.scenario), sd.data_dir, sd.dataset_dir)
    content = {"recipe": recipe, "plan": plan.describe(), "population": pop.fingerprint}
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
    """(LocalReferences, TrainTasks) of ``n_models`` references of ``sd`` in recipe ``refs`` (nothing trained yet)."""
    if n_models < 2 or n_models % 2:
        raise ConfigError(
            f"references come in pairs (half IN, half OUT per point): -n must be even ≥ 2, got {n_models}"
        )
    arch = reference_architecture(sd.track, sd.scenario, refs)
    plan = plan or pooled_plan(sd, refs)
    cfg = TrainConfig(**refs.training(sd.scenario.epsilon), device=device)
    recipe = _recipe_dict(refs, cfg, arch)
    folder = _folder(sd, plan, recipe, root)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "recipe.json", json.dumps({**recipe, "plan": plan.describe()}, indent=2) + "\n")
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
    return LocalReferences(folder, paths, plan, recipe), tasks


def record_seconds(seconds: dict[Path, float]) -> None:
    """Add measured training seconds to each folder's ``seconds.json`` (what later runs report)."""
    by_folder: dict[Path, dict[str, float]] = {}
    for path, secs in seconds.items():
        by_folder.setdefault(Path(path).parent, {})[Path(path).name] = secs
    for folder, new in by_folder.items():
        timing = folder / "seconds.json"
        known = json.loads(timing.read_text()) if timing.is_file() else {}
        atomic_write_text(timing, json.dumps({**known, **new}, indent=2, sort_keys=True) + "\n")


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
    """Train (or resume) ``n_models`` references of scenario ``sd`` in recipe ``refs``; return them."""
    sd.check_population()
    local, tasks = reference_tasks(sd, n_models, refs, plan=plan, root=root, device=device)
    record_seconds(run_train_tasks(tasks, jobs=jobs, scheduler=scheduler, progress=progress))
    return local


def seconds_per_model(local: LocalReferences) -> float | None:
    """The mean recorded training seconds of the folder's models (None if none were timed here)."""
    timing = local.folder / "seconds.json"
    if not timing.is_file():
        return None
    known = [v for k, v in json.loads(timing.read_text()).items() if k in {p.name for p in local.paths}]
    return float(np.mean(known)) if known else None


def pointer_path(track, scenario) -> Path:
    """``runs/<track>/references/<scenario>.json``: which references the scenario's attacks use."""
    return runs_dir(track) / "references" / f"{scenario.name}.json"


def save_pointer(sd, local: LocalReferences) -> Path:
    """Write the scenario's pointer to its local references (folder, files, plan, recipe, check) atomically."""
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
