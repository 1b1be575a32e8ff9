"""One scenario of a MICO-layout challenge: its model folders, splits, the attack's arrays, and a
recipe's raw scores on them.

Train-phase models reveal all three seeds, so their membership of *every* population point is
known: they are the references for every dev/final challenge point. They are run on the union of
all challenge points of the scenario; dev/final models only on their own 200.

Validation folds (written once for evaluate, tuning, scoring and ddp): a fold of train models can
play the targets of a phase whose answers are known: targets = one fold of train models, references =
the other train models (a model is never its own reference). ``pool`` then concatenates
(solution, scores, target ids) over folds, as the leaderboard pools all targets of a phase under
one threshold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from toolkit.attacks import run_attack
from toolkit.errors import DataError
from toolkit.mico.challenge import PHASES, ModelDir, Splits, list_models
from toolkit.models import model_file
from toolkit.outputs import OutputTask, get_outputs, load_output, load_outputs
from toolkit.tracks import Recipe, Scenario, Track

__all__ = [
    "ScenarioData",
    "scenario_dir",
    "open_scenario",
    "PhaseArrays",
    "LOCAL",
    "LocalModel",
    "split_ids",
    "train_logits",
    "fold_arrays",
    "validation_folds",
    "pool",
    "score_arrays",
    "raw_phase_scores",
    "validation_scores",
]

LOCAL = "local"  # the phase name of reference models of our own in ``outputs``' keys


@dataclass(frozen=True)
class LocalModel:
    """A reference model of our own, keyed in ``outputs`` as (LOCAL, index)."""

    path: Path
    model_id: int
    phase: str = LOCAL


def scenario_dir(track: Track, scenario: Scenario, data_dir: Path) -> Path:
    """``DATA/<task>/<scenario>``; also accepts the Hugging Face re-release's extra level."""
    folder = scenario.folder or scenario.name
    candidates = [Path(data_dir) / track.task / folder, Path(data_dir) / track.task / track.task / folder]
    for c in candidates:
        if c.is_dir():
            return c
    raise DataError(
        f"scenario folder missing: {candidates[0]}",
        f"unpack the {track.task} archive under DATA={data_dir}"
        + (" or run `mia challenge build`" if track.build else ""),
    )


@dataclass
class PhaseArrays:
    """Everything an attack needs for several targets at once (rows concatenated, see registry)."""

    target: np.ndarray  # float32 [P, V, C]
    labels: np.ndarray  # int64 [P]
    ref: np.ndarray  # float32 [R, P, V, C]
    keep: np.ndarray  # bool [R, P]
    groups: np.ndarray  # int64 [P], index into model_ids
    model_ids: list[int]
    points: np.ndarray  # int64 [P] population indices
    solution: np.ndarray | None = None  # int64 [P] where known
    ref_ids: list[int] | None = None  # the train models behind ``ref``'s first rows (local references follow)


@dataclass
class ScenarioData:
    """An opened scenario: its models per phase and every model's splits (``open_scenario``)."""

    track: Track
    scenario: Scenario
    root: Path
    models: dict[str, list[ModelDir]]
    splits: dict[tuple[str, int], Splits]
    data_dir: Path | None = None
    dataset_dir: Path | None = None
    local: object | None = None  # ``mico.references.LocalReferences``: reference models of our own, if trained

    @property
    def population_size(self) -> int:
        return self.track.population_size_of(self.scenario)

    def union_points(self) -> np.ndarray:
        """Sorted union of every challenge point of every phase."""
        return np.unique(np.concatenate([s.challenge for s in self.splits.values()]))

    def train_keep(self, points: np.ndarray) -> np.ndarray:
        """bool [n_train, len(points)]: train-phase membership at ``points``."""
        N = self.population_size
        return np.stack([self.splits[("train", md.model_id)].membership(N)[points] for md in self.models["train"]])

    def check_population(self) -> None:
        """The dataset has exactly the track's population size: a file cut short (or another file)
        stops the run naming it, before any model runs (the seeds index a population of that size)."""
        from toolkit.data import load_population

        pop = load_population(self.track.dataset_of(self.scenario), self.data_dir, self.dataset_dir)
        if len(pop) != self.population_size:
            raise DataError(
                f"{pop.source or self.track.dataset_of(self.scenario)} holds {len(pop):,} rows "
                f"(population points) where track {self.track.name} (scenario {self.scenario.name}) "
                f"needs {self.population_size:,}",
                "the file is cut short or is not the organisers' one; fetch it again",
            )

    def tasks(self, views=("orig",)) -> list[tuple[ModelDir, OutputTask]]:
        self.check_population()
        union = self.union_points()
        out = []
        for phase in PHASES:
            for md in self.models.get(phase, []):
                pts = union if phase == "train" else self.splits[(phase, md.model_id)].challenge
                out.append(
                    (
                        md,
                        OutputTask(
                            model_path=model_file(md.path),
                            architecture=self.track.architecture_of(self.scenario),
                            n_classes=self.track.n_classes_of(self.scenario),
                            dataset=self.track.dataset_of(self.scenario),
                            points=pts,
                            views=tuple(views),
                            data_dir=str(self.data_dir) if self.data_dir else None,
                            dataset_dir=str(self.dataset_dir) if self.dataset_dir else None,
                        ),
                    )
                )
        for i, path in enumerate(self.local.paths if self.local else []):
            out.append((LocalModel(path, i), replace(out[0][1], model_path=path, points=union)))
        return out

    def outputs(self, views=("orig",), jobs: int = 1, cache_dir=None, progress: bool = True, scheduler=None) -> dict:
        """{(phase, model_id): cache path}, computing what is missing."""
        pairs = self.tasks(views)
        paths = get_outputs(
            [t for _, t in pairs], jobs=jobs, cache_dir=cache_dir, progress=progress, scheduler=scheduler
        )
        return {(md.phase, md.model_id): p for (md, _), p in zip(pairs, paths)}

    def labels(self) -> np.ndarray:
        from toolkit.data import load_population

        pop = load_population(self.track.dataset_of(self.scenario), self.data_dir, self.dataset_dir)
        return pop.labels

    def local_arrays(self, paths: dict, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(logits [L, P, V, C], keep [L, P]) of the local references at ``points`` (a subset of the union)."""
        cols = np.searchsorted(self.union_points(), points)
        logits = load_outputs([paths[(LOCAL, i)] for i in range(len(self.local.paths))], cols)
        return logits, self.local.keep(points)

    def phase_arrays(self, phase: str, paths: dict, local: bool | None = None) -> PhaseArrays:
        """Targets = every model of a dev/final phase; references = every train model, and the local
        references where there are some (``local=None``) or asked for (``local=True``)."""
        targets = self.models[phase]
        points = np.concatenate([self.splits[(phase, md.model_id)].challenge for md in targets])
        sizes = [len(self.splits[(phase, md.model_id)].challenge) for md in targets]
        groups = np.repeat(np.arange(len(targets)), sizes)
        ref_ids = [md.model_id for md in self.models["train"]]
        arrays = PhaseArrays(
            target=np.concatenate(load_outputs([paths[(phase, md.model_id)] for md in targets])),
            labels=self.labels()[points],
            ref=load_outputs([paths[("train", i)] for i in ref_ids], np.searchsorted(self.union_points(), points)),
            keep=self.train_keep(points),
            groups=groups,
            model_ids=[md.model_id for md in targets],
            points=points,
            ref_ids=ref_ids,
        )
        return self.with_local(arrays, paths) if (self.local and local is not False) else arrays

    def with_local(self, arrays: PhaseArrays, paths: dict) -> PhaseArrays:
        """``arrays`` with the local references appended to its references (never a target's own model)."""
        logits, keep = self.local_arrays(paths, arrays.points)
        return replace(
            arrays,
            ref=np.concatenate([arrays.ref, logits]),
            keep=np.concatenate([arrays.keep, keep]),
        )


def open_scenario(track: Track, scenario: Scenario, data_dir: Path, dataset_dir: Path | None = None) -> ScenarioData:
    """List the scenario's models and regenerate every model's splits from its seed files."""
    root = scenario_dir(track, scenario, data_dir)
    N, n, m = track.population_size_of(scenario), track.len_training_of(scenario), track.m
    models, splits = {}, {}
    for phase in PHASES:
        models[phase] = list_models(root, phase)
        for md in models[phase]:
            splits[(phase, md.model_id)] = md.splits(N, n, m)
    for md in models["train"]:
        s = splits[("train", md.model_id)]
        if s.members is None or s.training is None:
            raise DataError(f"train-phase model {md.path} lacks seed_training or seed_membership")
    return ScenarioData(track, scenario, root, models, splits, Path(data_dir), dataset_dir and Path(dataset_dir))


def split_ids(ids: Sequence[int], n_folds: int, seed) -> list[list[int]]:
    """``ids`` in ``min(n_folds, len(ids))`` folds of a seeded permutation, each in ``ids`` order."""
    order = np.random.default_rng(seed).permutation(len(ids))
    return [[ids[i] for i in sorted(part)] for part in np.array_split(order, min(n_folds, len(ids)))]


def train_logits(sd: ScenarioData, paths: Mapping) -> dict[int, np.ndarray]:
    """{train model id: float32 [n_union, V, C]}, each checked against the contract as it is read."""
    return {md.model_id: load_output(paths[("train", md.model_id)]) for md in sd.models["train"]}


def fold_arrays(
    sd: ScenarioData, logits: Mapping[int, np.ndarray], targets: Sequence[int], refs: Sequence[int]
) -> PhaseArrays:
    """Train models ``targets`` on their own challenge points, scored against train models ``refs``."""
    if set(targets) & set(refs):
        raise DataError(f"a fold's targets {sorted(set(targets) & set(refs))} are also its references")
    union, N = sd.union_points(), sd.population_size
    sp = [sd.splits[("train", i)] for i in targets]
    points = np.concatenate([s.challenge for s in sp])
    cols = np.searchsorted(union, points)
    own = [np.searchsorted(union, s.challenge) for s in sp]
    return PhaseArrays(
        target=np.concatenate([np.asarray(logits[i][c]) for i, c in zip(targets, own)]),
        labels=sd.labels()[points],
        ref=np.stack([np.asarray(logits[r][cols]) for r in refs]),
        keep=np.stack([sd.splits[("train", r)].membership(N)[points] for r in refs]),
        groups=np.repeat(np.arange(len(targets)), [len(s.challenge) for s in sp]),
        model_ids=list(targets),
        points=points,
        solution=np.concatenate([s.solution for s in sp]).astype(np.int64),
        ref_ids=list(refs),
    )


def validation_folds(
    sd: ScenarioData,
    paths: Mapping,
    n_folds: int = 5,
    seed=0,
    ids: Sequence[int] | None = None,
    logits: Mapping[int, np.ndarray] | None = None,
    local: bool = False,
) -> Iterator[PhaseArrays]:
    """Folds of the train models ``ids`` (default: all), each against the other ``ids`` as references
    (and, with ``local``, the scenario's reference models of our own: never a target, so never their own)."""
    ids = list(ids) if ids is not None else [md.model_id for md in sd.models["train"]]
    if len(ids) < 2:
        raise DataError(f"validation needs at least 2 train-phase models in {sd.root}, found {len(ids)}")
    logits = logits if logits is not None else train_logits(sd, paths)
    for targets in split_ids(ids, n_folds, seed):
        fold = fold_arrays(sd, logits, targets, [i for i in ids if i not in targets])
        yield sd.with_local(fold, paths) if local and sd.local else fold


def pool(
    folds: Iterable[PhaseArrays], score: Callable[[PhaseArrays], np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(solution, scores, target model id per row) of ``score(fold)``, concatenated over ``folds``."""
    ys, ss, gs = [], [], []
    for fold in folds:
        ys.append(fold.solution)
        ss.append(score(fold))
        gs.append(np.asarray(fold.model_ids)[fold.groups])
    return np.concatenate(ys), np.concatenate(ss), np.concatenate(gs)


def score_arrays(arrays: PhaseArrays, recipe: Recipe, seed: int = 0) -> np.ndarray:
    """Run a recipe's attack on concatenated targets: raw scores [P]."""
    return run_attack(
        recipe.attack,
        arrays.target,
        arrays.labels,
        arrays.ref,
        arrays.keep,
        groups=arrays.groups,
        seed=seed,
        **dict(recipe.params),
    )


def raw_phase_scores(
    sd: ScenarioData, phase: str, paths: dict, recipe: Recipe, *, seed: int = 0
) -> tuple[list[int], np.ndarray]:
    """(model ids, raw scores [P] of their challenge points concatenated) of a dev/final phase with ``recipe``."""
    arrays = sd.phase_arrays(phase, paths)
    return arrays.model_ids, score_arrays(arrays, recipe, seed)


def validation_scores(
    sd: ScenarioData, paths: dict, recipe: Recipe, *, n_folds: int = 4, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(solution, scores, target ids) pooled over every fold of the validation split (``validation_folds``), with the
    local references where the scenario has some (as ``raw_phase_scores`` uses them)."""
    folds = validation_folds(sd, paths, n_folds, seed, local=sd.local is not None)
    return pool(folds, lambda f: score_arrays(f, recipe, seed))
