"""What ``recipe = "auto"`` chooses among, and how the choice is made from their validation scores.

A candidate is a recipe under a per-target transform (``choose.calibration``), scored with the provided
references or with our own added (``+local``), or a stacker over the recipes' scores (``choose.fusion``).
``choose_among`` takes every recipe's out-of-sample scores (each kind builds them from its own data: MICO in
``mico.auto`` from train-phase folds), adds the transforms and the stackers, ranks them (``choose.ranking``)
and lets a decision rule (``choose.rules``) pick; ``rescore`` scores the pick's candidates on other targets.

Simplicity, used to break ties: threshold < hardness < reference-ratio attacks < fitted Gaussians < learned
models < fusion; ``raw`` before the per-target transforms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from toolkit.attacks.registry import attack_spec
from toolkit.choose.calibration import TRANSFORMS, combine, fusion_features, per_target
from toolkit.choose.fusion import fit_fusion, fusion_oof
from toolkit.choose.ranking import Scored, rank
from toolkit.choose.rules import FUSION, FUSION_LOWFPR, Pick, Table, apply_rule, corrected_estimate, load_prior
from toolkit.tracks import Recipe

__all__ = [
    "AUTO",
    "FUSION",
    "FUSION_SIMPLICITY",
    "GIVEN",
    "LOCAL",
    "Candidate",
    "Selection",
    "choose_among",
    "rescore",
]

AUTO = "auto"
# How much machinery a family adds over a loss threshold (each attack registers its own); ties in the CI
# go to the lower number. The stacker over every family's scores adds the most.
FUSION_SIMPLICITY = 6
# Families too slow or too redundant to feed the stacker: ensemble is a stacker itself.
_NOT_FUSED = ("ensemble", "shokri")
GIVEN, LOCAL = "given", "local"  # which references a candidate scored with: the provided, or + our own


@dataclass(frozen=True, eq=False)
class Candidate:
    """A recipe and the per-target transform applied to its scores; a stacker (``FUSION`` or
    ``FUSION_LOWFPR``) has no recipe."""

    recipe: Recipe | None
    transform: str = "raw"
    stacker: str = FUSION
    refs: str = GIVEN  # GIVEN: the provided references; LOCAL: those and the local ones

    @property
    def family(self) -> str:
        return self.recipe.attack if self.recipe else FUSION

    def base(self) -> str:
        """The label without the transform: the recipe (or the stacker) behind the candidate."""
        if self.recipe is None:
            return self.stacker
        return self.recipe.label() + (" +local" if self.refs == LOCAL else "")

    def label(self) -> str:
        return self.base() if self.transform == "raw" else f"{self.base()} [{self.transform}]"

    def simplicity(self) -> tuple[int, int, int]:
        family = FUSION_SIMPLICITY if self.recipe is None else attack_spec(self.family).simplicity
        return family, int(self.refs == LOCAL), TRANSFORMS.index(self.transform)


@dataclass
class Selection:
    """The validation ranking of one scenario and its choice."""

    chosen: Candidate  # the pick's first candidate (its only one unless the rule averages ranks)
    ranking: list[dict]
    validation: tuple[np.ndarray, np.ndarray, np.ndarray]  # (solution, scores, target ids) of the pick
    pick: Pick
    fused: list[tuple[Recipe, str]] = field(default_factory=list)  # (recipe, refs) whose scores feed the stackers
    stackers: dict[str, object] = field(default_factory=dict)  # fitted on every validation row, per stacker
    recipes: list[Recipe] = field(default_factory=list)  # every recipe that was scored
    candidates: dict[str, Candidate] = field(default_factory=dict)
    table: Table | None = None  # what the rule read: every candidate's validation scores
    corrected: dict | None = None  # the pick's figure corrected for the choice (``rules.corrected_estimate``)

    def picked(self) -> list[Candidate]:
        return [self.candidates[label] for label in self.pick.labels]

    def as_dict(self) -> dict:
        return {
            "chosen": self.pick.label(),
            "recipe": self.chosen.recipe.as_dict() if self.chosen.recipe else self.chosen.stacker,
            "transform": self.chosen.transform,
            "rule": self.pick.rule,
            "picked": list(self.pick.labels),
            "combine": self.pick.combine,
            "ranking": self.ranking,
            "fused": [r.label() + (" +local" if refs == LOCAL else "") for r, refs in self.fused],
            "corrected": self.corrected,
        }


def choose_among(
    raw: list[tuple[Recipe, str, np.ndarray]],
    y: np.ndarray,
    groups: np.ndarray,
    fold_of: np.ndarray,
    *,
    rule: str,
    fpr: float = 0.1,
    dp: bool = False,
    fusion: bool = True,
    transforms: tuple[str, ...] = TRANSFORMS,
    n_boot: int = 200,
    seed: int = 0,
) -> Selection:
    """Every candidate of the recipes' validation scores ``raw`` [(recipe, refs, scores [n])], ranked, and the
    pick of ``rule``.

    ``y``, ``groups`` (the target of each row) and ``fold_of`` (its validation fold, for the stackers'
    out-of-fold fit) follow the rows. With ``fusion=False`` (or one recipe, or one fold) no stacker competes.
    """
    cands = {}
    for r, refs, s in raw:
        for t in transforms:
            c = Candidate(r, t, refs=refs)
            cands[c.label()] = (c, per_target(s, groups, t))
    fused = [(r, refs, s) for r, refs, s in raw if r.attack not in _NOT_FUSED]
    stackers = {}
    if fusion and len(fused) >= 2 and len(np.unique(fold_of)) >= 2:
        x = fusion_features([s for _, _, s in fused], groups)
        for name in (FUSION, FUSION_LOWFPR):
            cands[name] = (Candidate(None, stacker=name), fusion_oof(x, y, fold_of, seed, name, fpr))
            stackers[name] = fit_fusion(x, y, seed, name, fpr)
    scored = [Scored(c.label(), c.family, c.base(), c.simplicity(), s) for c, s in cands.values()]
    table = rank(scored, y, fpr=fpr, groups=groups, dp=dp, n_boot=n_boot, seed=seed)
    prior = load_prior() if rule == "shrunk" else None  # the only rule that reads it
    pick = apply_rule(rule, table, prior=prior, n_boot=n_boot, seed=seed)
    ranking = [_row(cands[label][0], table, i, pick) for i, label in enumerate(table.labels)]
    picked = [cands[label][1] for label in pick.labels]
    return Selection(
        chosen=cands[pick.labels[0]][0],
        ranking=ranking,
        validation=(y, combine(picked, groups, pick.combine), groups),
        pick=pick,
        fused=[(r, refs) for r, refs, _ in fused],
        stackers=stackers,
        recipes=[r for r, refs, _ in raw if refs == GIVEN],
        candidates={label: c for label, (c, _) in cands.items()},
        table=table,
        corrected=corrected_estimate(table, rule, prior=prior, n_boot=n_boot, seed=seed),
    )


def _row(cand: Candidate, table: Table, i: int, pick: Pick) -> dict:
    """One printed and saved ranking row."""
    row = {
        "label": table.labels[i],
        "recipe": cand.recipe.label() if cand.recipe else FUSION,
        "transform": cand.transform,
        "objective": float(table.objective[i]),
        "ci": [float(v) for v in table.ci[i]],
        "tpr": float(table.tpr[i]),
        "auc": float(table.auc[i]),
        "chosen": table.labels[i] in pick.labels,
    }
    if row["chosen"] and pick.note:
        row["note"] = pick.note
    return row


def rescore(
    sel: Selection, labels, recipe_scores: Callable[[Recipe, str], np.ndarray], groups: np.ndarray
) -> dict[str, np.ndarray]:
    """{label: scores [P]} of candidates ``labels`` on other targets (``groups``: the target of each row);
    ``recipe_scores(recipe, refs)`` gives a recipe's raw scores there (each kind scores its own data)."""
    raw: dict[tuple[str, str], np.ndarray] = {}

    def scores_of(r: Recipe, refs: str) -> np.ndarray:
        if (r.label(), refs) not in raw:
            raw[(r.label(), refs)] = recipe_scores(r, refs)
        return raw[(r.label(), refs)]

    out = {}
    for label in labels:
        c = sel.candidates[label]
        if c.recipe is not None:
            out[label] = per_target(scores_of(c.recipe, c.refs), groups, c.transform)
        else:
            x = fusion_features([scores_of(r, refs) for r, refs in sel.fused], groups)
            out[label] = sel.stackers[c.stacker].decision_function(x)
    return out
