"""``recipe = "auto"``: the strongest attack the known answers support, chosen per scenario.

Every registered family at its defaults and its known-good variants (``attacks.variants``), each
under every per-target transform (``mico.calibration``), plus ``fusion`` (an out-of-fold stacker
over the families' scores), is scored on the validation split: folds of train-phase models as
targets, the other train models as references (``mico.folds``; never a model its own reference).
Candidates are ranked by the leaderboard's figure on the pooled validation scores (strict TPR at
the board's FPR + 1e-3·AUC, ``metrics.objective_value``) with a bootstrap CI over target models.

The choice prefers the simpler candidate when the difference lies inside the CI: starting from
the best, the simplest candidate whose paired-bootstrap gain interval against the best contains
zero is taken (simplicity: threshold < hardness < reference-ratio attacks < fitted Gaussians <
learned models < fusion; ``raw`` before the per-target transforms).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from toolkit.attacks.variants import default_recipes
from toolkit.errors import ToolkitError
from toolkit.metrics import bootstrap_ci, gain_ci, objective_value
from toolkit.mico.calibration import TRANSFORMS, per_target
from toolkit.mico.folds import validation_folds
from toolkit.mico.scenario import PhaseArrays, ScenarioData
from toolkit.mico.scoring import score_arrays
from toolkit.tracks import Recipe

__all__ = ["AUTO", "FUSION", "SIMPLICITY", "Candidate", "Selection", "select", "fusion_features", "fit_fusion"]

AUTO = "auto"
FUSION = "fusion"
# How much machinery a family adds over a loss threshold; ties in the CI go to the lower number.
SIMPLICITY = {
    "threshold": 0,
    "hardness": 1,
    "rmia": 2,
    "informia": 2,
    "base": 2,
    "lira": 3,
    "bavaria": 3,
    "quantile": 4,
    "shokri": 4,
    "ensemble": 5,
    FUSION: 6,
}
# Families too slow or too redundant to feed the stacker: ensemble is a stacker itself.
_NOT_FUSED = ("ensemble", "shokri")


@dataclass(frozen=True, eq=False)
class Candidate:
    """A recipe and the per-target transform applied to its scores (``fusion`` has no recipe)."""

    recipe: Recipe | None
    transform: str = "raw"

    @property
    def family(self) -> str:
        return self.recipe.attack if self.recipe else FUSION

    def label(self) -> str:
        base = self.recipe.label() if self.recipe else FUSION
        return base if self.transform == "raw" else f"{base} [{self.transform}]"

    def simplicity(self) -> tuple[int, int]:
        return SIMPLICITY.get(self.family, 5), TRANSFORMS.index(self.transform)


@dataclass
class Selection:
    """The validation ranking of one scenario and its choice."""

    chosen: Candidate
    ranking: list[dict]
    validation: tuple[np.ndarray, np.ndarray, np.ndarray]  # (solution, scores, target ids) of the chosen
    fused: list[Recipe] = field(default_factory=list)  # the recipes whose scores feed ``fusion``
    fusion_model: object | None = None  # fitted on every validation row, for the dev/final phases
    recipes: list[Recipe] = field(default_factory=list)  # every recipe that was scored

    def as_dict(self) -> dict:
        return {
            "chosen": self.chosen.label(),
            "recipe": self.chosen.recipe.as_dict() if self.chosen.recipe else FUSION,
            "transform": self.chosen.transform,
            "ranking": self.ranking,
            "fused": [r.label() for r in self.fused],
        }


def _raw_scores(folds: list[PhaseArrays], recipes: list[Recipe], seed: int) -> list[tuple[Recipe, np.ndarray]]:
    """Raw validation scores of every recipe, concatenated over folds (a recipe that fails is dropped)."""
    out = []
    for recipe in recipes:
        try:
            out.append((recipe, np.concatenate([score_arrays(f, recipe, seed) for f in folds])))
        except ToolkitError:  # e.g. an attack that needs more references than a fold has
            continue
    return out


def fusion_features(scores: list[np.ndarray], groups: np.ndarray) -> np.ndarray:
    """float64 [n, k]: each recipe's scores ranked within its target, so every input shares one scale."""
    return np.column_stack([per_target(s, groups, "rank") for s in scores])


def fit_fusion(x: np.ndarray, y: np.ndarray, seed: int = 0):
    """A logistic regression on the ranked scores: few parameters, so ~6,000 validation rows fit it stably."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1.0, max_iter=1000, random_state=seed).fit(x, y)


def _fusion_oof(x: np.ndarray, y: np.ndarray, fold_of: np.ndarray, seed: int) -> np.ndarray:
    """Out-of-fold fusion scores: each validation fold scored by a stacker fitted on the other folds."""
    out = np.empty(len(y))
    for k in np.unique(fold_of):
        rows = fold_of == k
        out[rows] = fit_fusion(x[~rows], y[~rows], seed).decision_function(x[rows])
    return out


def _rank(cands: dict[str, tuple[Candidate, np.ndarray]], y, g, fpr: float, n_boot: int, seed: int) -> list[dict]:
    rows = []
    for cand, s in cands.values():
        obj, tpr, auc = objective_value(y, s, fpr)
        stat = lambda yy, ss: objective_value(yy, ss, fpr)[0]
        _, lo, hi = bootstrap_ci(y, s, stat, groups=g, n_boot=n_boot, seed=seed)
        rows.append(
            {
                "candidate": cand,
                "label": cand.label(),
                "recipe": cand.recipe.label() if cand.recipe else FUSION,
                "transform": cand.transform,
                "objective": obj,
                "ci": [lo, hi],
                "tpr": tpr,
                "auc": auc,
            }
        )
    rows.sort(key=lambda r: (-r["objective"], r["candidate"].simplicity()))
    return rows


def _prefer_simpler(rows: list[dict], cands, y, g, fpr: float, n_boot: int, seed: int) -> dict:
    """The simplest candidate indistinguishable from the best (its paired gain CI contains 0)."""
    best = rows[0]
    simpler = sorted(
        (r for r in rows[1:] if r["candidate"].simplicity() < best["candidate"].simplicity()),
        key=lambda r: (r["candidate"].simplicity(), -r["objective"]),
    )
    for r in simpler:
        _, lo, _ = gain_ci(y, cands[best["label"]][1], cands[r["label"]][1], g, fpr, n_boot=n_boot, seed=seed)
        if lo <= 0.0:
            r["note"] = f"within the CI of {best['label']}: simpler"
            return r
    return best


def select(
    sd: ScenarioData,
    paths: dict,
    *,
    fpr: float = 0.1,
    n_folds: int = 4,
    seed: int = 0,
    n_boot: int = 200,
    recipes: list[Recipe] | None = None,
    fusion: bool = True,
    ids: list[int] | None = None,
    transforms: tuple[str, ...] = TRANSFORMS,
) -> Selection:
    """Rank every candidate on the validation split of ``sd`` (train models ``ids``, default all) and choose one.

    With ``fusion=False`` (or where ``fusion`` cannot be fitted) the choice is a single attack.
    """
    folds = list(validation_folds(sd, paths, n_folds, seed, ids=ids))
    y = np.concatenate([f.solution for f in folds])
    g = np.concatenate([np.asarray(f.model_ids)[f.groups] for f in folds])
    fold_of = np.concatenate([np.full(len(f.solution), k) for k, f in enumerate(folds)])
    raw = _raw_scores(folds, recipes or default_recipes(), seed)
    cands = {}
    for r, s in raw:
        for t in transforms:
            c = Candidate(r, t)
            cands[c.label()] = (c, per_target(s, g, t))
    fused = [(r, s) for r, s in raw if r.attack not in _NOT_FUSED]
    model = None
    if fusion and len(fused) >= 2 and len(folds) >= 2:
        x = fusion_features([s for _, s in fused], g)
        cands[FUSION] = (Candidate(None), _fusion_oof(x, y, fold_of, seed))
        model = fit_fusion(x, y, seed)
    rows = _rank(cands, y, g, fpr, n_boot, seed)
    chosen = _prefer_simpler(rows, cands, y, g, fpr, n_boot, seed)
    for r in rows:
        r["chosen"] = r is chosen
    ranking = [{k: v for k, v in r.items() if k != "candidate"} for r in rows]
    return Selection(
        chosen["candidate"],
        ranking,
        (y, cands[chosen["label"]][1], g),
        [r for r, _ in fused],
        model,
        [r for r, _ in raw],
    )


def ranking_lines(name: str, sel: dict, top: int = 8) -> list[str]:
    """The printed ranking: the top candidates with their CIs and the one chosen."""
    lines = [f"auto ranking, {name} (validation, objective = strict TPR@FPR + 1e-3·AUC, 95% model-bootstrap CI):"]
    shown = sel["ranking"][:top] + [r for r in sel["ranking"][top:] if r["chosen"]]
    for i, r in enumerate(shown, 1):
        mark = "  <- chosen" + (f" ({r['note']})" if r.get("note") else "") if r["chosen"] else ""
        lines.append(f"  {i:>2}. {r['label']:<44} {r['objective']:.4f} [{r['ci'][0]:.4f}, {r['ci'][1]:.4f}]{mark}")
    return lines


def score_arrays_auto(sel: Selection, arrays: PhaseArrays, seed: int = 0) -> np.ndarray:
    """Raw scores [P] of the chosen candidate on concatenated targets (a dev/final phase)."""
    if sel.chosen.recipe is not None:
        return per_target(score_arrays(arrays, sel.chosen.recipe, seed), arrays.groups, sel.chosen.transform)
    x = fusion_features([score_arrays(arrays, r, seed) for r in sel.fused], arrays.groups)
    return sel.fusion_model.decision_function(x)
