"""One ranking for every kind: each candidate's out-of-sample scores → its figure, its interval, its place.

MICO ranks on the pooled validation scores of train-phase targets (``mico.auto``), the ResNet18 task on the
out-of-fold scores of its public set (``tml.validation``); both rank here, by the leaderboard's figure
(strict TPR at the board's FPR + 1e-3·AUC, ``metrics.objective_value``), ties to the simpler candidate,
each with a percentile-bootstrap interval. The result is the ``rules.Table`` the decision rules read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from toolkit.choose.rules import Table
from toolkit.metrics import bootstrap_ci, objective_value

__all__ = ["Scored", "rank"]


@dataclass(frozen=True, eq=False)
class Scored:
    """One candidate as the ranking reads it: its label, family, the recipe behind it (one recipe may stand behind
    several labels), how simple it is (lower first, compared as tuples), and its out-of-sample scores [n]."""

    label: str
    family: str
    recipe: str
    simplicity: tuple[int, ...]
    scores: np.ndarray


def rank(
    scored: Sequence[Scored],
    y: np.ndarray,
    *,
    fpr: float,
    groups: np.ndarray | None = None,
    dp: bool = False,
    n_boot: int = 200,
    seed: int = 0,
    intervals: Mapping[str, Sequence[float]] | None = None,
) -> Table:
    """Every candidate best first (objective, then simplicity, then the order given) as a ``Table``.

    Each interval is the objective's 95% bootstrap over ``groups`` (target models; rows where None), unless
    ``intervals`` gives one per label (e.g. a kind's own figure's interval, already drawn).
    """
    figures = [objective_value(y, c.scores, fpr) for c in scored]
    if intervals is None:
        stat = lambda yy, ss: objective_value(yy, ss, fpr)[0]  # noqa: E731
        cis = [bootstrap_ci(y, c.scores, stat, groups=groups, n_boot=n_boot, seed=seed)[1:] for c in scored]
    else:
        cis = [tuple(intervals[c.label]) for c in scored]
    rows = sorted(range(len(scored)), key=lambda i: (-figures[i][0], scored[i].simplicity))
    return Table(
        labels=tuple(scored[i].label for i in rows),
        families=tuple(scored[i].family for i in rows),
        recipes=tuple(scored[i].recipe for i in rows),
        simplicity=tuple(scored[i].simplicity for i in rows),
        scores=np.stack([scored[i].scores for i in rows]),
        y=y,
        groups=groups,
        objective=np.array([figures[i][0] for i in rows]),
        ci=np.array([cis[i] for i in rows], dtype=np.float64).reshape(len(rows), 2),
        fpr=fpr,
        dp=dp,
        tpr=np.array([figures[i][1] for i in rows]),
        auc=np.array([figures[i][2] for i in rows]),
    )
