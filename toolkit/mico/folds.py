"""Validation folds of a MICO scenario, written once for evaluate, tuning, scoring and ddp.

Train-phase models reveal their membership of every population point, so a fold of them can play
the targets of a phase whose answers are known: targets = one fold of train models, references =
the other train models (a model is never its own reference). ``pool`` then concatenates
(solution, scores, target ids) over folds, as the leaderboard pools all targets of a phase under
one threshold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from toolkit.errors import DataError
from toolkit.mico.scenario import PhaseArrays, ScenarioData
from toolkit.outputs import load_output

__all__ = ["split_ids", "train_logits", "fold_arrays", "validation_folds", "pool"]


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
