"""``recipe = "auto"``: the strongest attack the known answers support, chosen per scenario.

Every registered family at its defaults and its known-good variants (``attacks.variants``), each
under every per-target transform (``mico.calibration``), plus ``fusion`` (an out-of-fold stacker
over the families' scores), is scored on the validation split: folds of train-phase models as
targets, the other train models as references (``mico.folds``; never a model its own reference).
Candidates are ranked by the leaderboard's figure on the pooled validation scores (strict TPR at
the board's FPR + 1e-3·AUC, ``metrics.objective_value``) with a bootstrap CI over target models.

Where the scenario has reference models of our own (``mia references``), every reference-based
recipe is also scored with them added to the provided ones (candidates marked ``+local``), so the
ranking says whether they help; a fold's target is never among its references either way.

A decision rule (``mico.rules``) turns the ranking into the submission: the best figure, the
simplest candidate inside the best one's CI, figures shrunk toward their family's record on other
archives, the mean rank of the top k, or always the stacker. Which rule is the default was measured
by its final-phase regret over many local archives (``benchmarks/selection.py``); a track can name
another (``recipe = { attack = "auto", rule = "best" }``). Simplicity, used to break ties: threshold
< hardness < reference-ratio attacks < fitted Gaussians < learned models < fusion; ``raw`` before
the per-target transforms.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from toolkit.attacks.fusion import weighted_logreg
from toolkit.attacks.variants import default_recipes
from toolkit.errors import ConfigError, ToolkitError
from toolkit.metrics import bootstrap_ci, objective_value
from toolkit.mico.calibration import TRANSFORMS, per_target
from toolkit.mico.folds import validation_folds
from toolkit.mico.rules import (
    DEFAULT_RULE,
    FUSION,
    FUSION_LOWFPR,
    Pick,
    Table,
    apply_rule,
    combine,
    corrected_estimate,
    load_prior,
)
from toolkit.mico.scenario import PhaseArrays, ScenarioData
from toolkit.mico.scoring import score_arrays
from toolkit.tracks import Recipe

__all__ = [
    "AUTO",
    "FUSION",
    "SIMPLICITY",
    "Candidate",
    "Selection",
    "select",
    "fusion_features",
    "fit_fusion",
    "candidate_scores",
    "auto_rule",
]

AUTO = "auto"
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
    "rapid": 4,
    "ensemble": 5,
    FUSION: 6,
}
# Families too slow or too redundant to feed the stacker: ensemble is a stacker itself.
_NOT_FUSED = ("ensemble", "shokri")
GIVEN, LOCAL = "given", "local"  # which references a candidate scored with: the provided, or + our own
_NO_REFERENCES = ("threshold",)  # families that read no reference model: one candidate, not two


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
        return SIMPLICITY.get(self.family, 5), int(self.refs == LOCAL), TRANSFORMS.index(self.transform)


@dataclass
class Selection:
    """The validation ranking of one scenario and its choice."""

    chosen: Candidate  # the pick's first candidate (its only one unless the rule averages ranks)
    ranking: list[dict]
    validation: tuple[np.ndarray, np.ndarray, np.ndarray]  # (solution, scores, target ids) of the pick
    fused: list[tuple[Recipe, str]] = field(default_factory=list)  # (recipe, refs) whose scores feed the stackers
    stackers: dict[str, object] = field(default_factory=dict)  # fitted on every validation row, per stacker
    recipes: list[Recipe] = field(default_factory=list)  # every recipe that was scored
    pick: Pick | None = None
    candidates: dict[str, Candidate] = field(default_factory=dict)
    table: Table | None = None  # what the rule read: every candidate's validation scores
    corrected: dict | None = None  # the pick's figure corrected for the choice (``rules.corrected_estimate``)

    def picked(self) -> list[Candidate]:
        return [self.candidates[label] for label in self.pick.labels] if self.pick else [self.chosen]

    def as_dict(self) -> dict:
        return {
            "chosen": self.chosen.label() if not self.pick or len(self.pick.labels) == 1 else _joined(self.pick),
            "recipe": self.chosen.recipe.as_dict() if self.chosen.recipe else self.chosen.stacker,
            "transform": self.chosen.transform,
            "rule": self.pick.rule if self.pick else DEFAULT_RULE,
            "picked": list(self.pick.labels) if self.pick else [self.chosen.label()],
            "combine": self.pick.combine if self.pick else "one",
            "ranking": self.ranking,
            "fused": [r.label() + (" +local" if refs == LOCAL else "") for r, refs in self.fused],
            "corrected": self.corrected,
        }


def _joined(pick: Pick) -> str:
    return f"mean rank of {' + '.join(pick.labels)}"


def _raw_scores(
    folds: list[PhaseArrays], recipes: list[Recipe], seed: int, refs: str = GIVEN
) -> list[tuple[Recipe, str, np.ndarray]]:
    """Raw validation scores of every recipe, concatenated over folds (a recipe that fails is dropped)."""
    out = []
    for recipe in recipes:
        try:
            out.append((recipe, refs, np.concatenate([score_arrays(f, recipe, seed) for f in folds])))
        except ToolkitError:  # e.g. an attack that needs more references than a fold has
            continue
    return out


def fusion_features(scores: list[np.ndarray], groups: np.ndarray) -> np.ndarray:
    """float64 [n, k]: each recipe's scores ranked within its target, so every input shares one scale."""
    return np.column_stack([per_target(s, groups, "rank") for s in scores])


def fit_fusion(x: np.ndarray, y: np.ndarray, seed: int = 0, stacker: str = FUSION, fpr: float = 0.1):
    """A logistic regression on the ranked scores: few parameters, so ~6,000 validation rows fit it stably.

    ``FUSION_LOWFPR`` refits it with the rows of the low-FPR region up-weighted (``attacks.fusion``).
    """
    if stacker == FUSION_LOWFPR:
        return weighted_logreg(x, y, seed, fpr=fpr)
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1.0, max_iter=1000, random_state=seed).fit(x, y)


def _fusion_oof(x, y, fold_of: np.ndarray, seed: int, stacker: str, fpr: float) -> np.ndarray:
    """Out-of-fold fusion scores: each validation fold scored by a stacker fitted on the other folds."""
    out = np.empty(len(y))
    for k in np.unique(fold_of):
        rows = fold_of == k
        out[rows] = fit_fusion(x[~rows], y[~rows], seed, stacker, fpr).decision_function(x[rows])
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


def auto_rule(recipe: Recipe) -> str:
    """The decision rule an ``auto`` recipe names (``rule = "..."``), checked; the default where it names none."""
    from toolkit.mico.rules import RULES

    unknown = sorted(set(recipe.params) - {"rule"})
    if unknown:
        raise ConfigError(f"recipe auto has no parameter(s) {', '.join(unknown)}; valid: rule")
    rule = str(recipe.params.get("rule", DEFAULT_RULE))
    if rule not in RULES:
        raise ConfigError(f"unknown auto rule {rule!r}; valid: {', '.join(RULES)}")
    return rule


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
    rule: str | None = None,
) -> Selection:
    """Rank every candidate on the validation split of ``sd`` (train models ``ids``, default all) and let
    ``rule`` (default ``rules.DEFAULT_RULE``) choose.

    With ``fusion=False`` (or where the stackers cannot be fitted) the candidates are single attacks.
    """
    folds = list(validation_folds(sd, paths, n_folds, seed, ids=ids))
    y = np.concatenate([f.solution for f in folds])
    g = np.concatenate([np.asarray(f.model_ids)[f.groups] for f in folds])
    fold_of = np.concatenate([np.full(len(f.solution), k) for k, f in enumerate(folds)])
    recipes = recipes or default_recipes()
    raw = _raw_scores(folds, recipes, seed)
    if sd.local is not None:  # the same folds with our own references added
        with_local = [sd.with_local(f, paths) for f in folds]
        raw += _raw_scores(with_local, [r for r in recipes if r.attack not in _NO_REFERENCES], seed, LOCAL)
    cands = {}
    for r, refs, s in raw:
        for t in transforms:
            c = Candidate(r, t, refs=refs)
            cands[c.label()] = (c, per_target(s, g, t))
    fused = [(r, refs, s) for r, refs, s in raw if r.attack not in _NOT_FUSED]
    stackers = {}
    if fusion and len(fused) >= 2 and len(folds) >= 2:
        x = fusion_features([s for _, _, s in fused], g)
        for name in (FUSION, FUSION_LOWFPR):
            cands[name] = (Candidate(None, stacker=name), _fusion_oof(x, y, fold_of, seed, name, fpr))
            stackers[name] = fit_fusion(x, y, seed, name, fpr)
    rows = _rank(cands, y, g, fpr, n_boot, seed)
    table = _table(rows, cands, y, g, fpr, sd.scenario.dp)
    rule = rule or DEFAULT_RULE
    prior = load_prior() if rule == "shrunk" else None  # the only rule that reads it
    pick = apply_rule(rule, table, prior=prior, n_boot=n_boot, seed=seed)
    for r in rows:
        r["chosen"] = r["label"] in pick.labels
        if r["chosen"] and pick.note:
            r["note"] = pick.note
    ranking = [{k: v for k, v in r.items() if k != "candidate"} for r in rows]
    picked = [cands[label][1] for label in pick.labels]
    return Selection(
        cands[pick.labels[0]][0],
        ranking,
        (y, combine(picked, g, pick.combine), g),
        [(r, refs) for r, refs, _ in fused],
        stackers,
        [r for r, refs, _ in raw if refs == GIVEN],
        pick,
        {label: c for label, (c, _) in cands.items()},
        table,
        corrected_estimate(table, rule, prior=prior, n_boot=n_boot, seed=seed),
    )


def _table(rows: list[dict], cands: dict, y, g, fpr: float, dp: bool) -> Table:
    """The ranking as the rules read it: every candidate's validation scores, figure and CI."""
    cs = [r["candidate"] for r in rows]
    return Table(
        labels=tuple(r["label"] for r in rows),
        families=tuple(c.family for c in cs),
        recipes=tuple(c.base() for c in cs),
        simplicity=tuple(c.simplicity() for c in cs),
        scores=np.stack([cands[r["label"]][1] for r in rows]),
        y=y,
        groups=g,
        objective=np.array([r["objective"] for r in rows]),
        ci=np.array([r["ci"] for r in rows]),
        fpr=fpr,
        dp=dp,
    )


def ranking_lines(name: str, sel: dict, top: int = 8) -> list[str]:
    """The printed ranking: the top candidates with their CIs, the one(s) chosen and the rule that chose."""
    rule = sel.get("rule", DEFAULT_RULE)
    how = f"; chosen by rule {rule}" + (" (mean rank of the picks)" if sel.get("combine") == "rank_mean" else "")
    lines = [f"auto ranking, {name} (validation, objective = strict TPR@FPR + 1e-3·AUC, 95% model-bootstrap CI{how}):"]
    shown = sel["ranking"][:top] + [r for r in sel["ranking"][top:] if r["chosen"]]
    for i, r in enumerate(shown, 1):
        mark = "  <- chosen" + (f" ({r['note']})" if r.get("note") else "") if r["chosen"] else ""
        lines.append(f"  {i:>2}. {r['label']:<44} {r['objective']:.4f} [{r['ci'][0]:.4f}, {r['ci'][1]:.4f}]{mark}")
    c = sel.get("corrected")
    if c:
        lines.append(
            f"  the pick, corrected for the choice (BBC-CV over {c['candidates']} candidates): TPR {c['estimate']:.4f} "
            f"[{c['ci'][0]:.4f}, {c['ci'][1]:.4f}]; its validation TPR {c['raw']:.4f}"
        )
    return lines


def candidate_scores(
    sel: Selection, arrays: PhaseArrays, labels, seed: int = 0, local: PhaseArrays | None = None
) -> dict[str, np.ndarray]:
    """{label: scores [P]} of candidates ``labels`` on concatenated targets, each recipe scored once.

    ``local``: the same targets with the local references added, for the ``+local`` candidates.
    """
    raw: dict[tuple[str, str], np.ndarray] = {}

    def recipe_scores(r: Recipe, refs: str) -> np.ndarray:
        if (r.label(), refs) not in raw:
            if refs == LOCAL and local is None:
                raise ConfigError(f"candidate {r.label()} +local needs the local references' outputs")
            raw[(r.label(), refs)] = score_arrays(local if refs == LOCAL else arrays, r, seed)
        return raw[(r.label(), refs)]

    out = {}
    for label in labels:
        c = sel.candidates[label]
        if c.recipe is not None:
            out[label] = per_target(recipe_scores(c.recipe, c.refs), arrays.groups, c.transform)
        else:
            x = fusion_features([recipe_scores(r, refs) for r, refs in sel.fused], arrays.groups)
            out[label] = sel.stackers[c.stacker].decision_function(x)
    return out


def score_arrays_auto(
    sel: Selection, arrays: PhaseArrays, seed: int = 0, local: PhaseArrays | None = None
) -> np.ndarray:
    """Scores [P] of the pick on concatenated targets (a dev/final phase); ``local`` as ``candidate_scores``."""
    labels = [c.label() for c in sel.picked()]
    scores = candidate_scores(sel, arrays, labels, seed, local)
    return combine([scores[label] for label in labels], arrays.groups, sel.pick.combine if sel.pick else "one")
