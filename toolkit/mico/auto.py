"""``recipe = "auto"`` for MICO: the strongest attack the known answers support, chosen per scenario.

Every registered family at its defaults and its known-good variants (``attacks.variants``) is scored on
the validation split: folds of train-phase models as targets, the other train models as references
(``mico.scenario.validation_folds``; never a model its own reference). Where the scenario has reference models
of our own (``mia references``), every reference-based recipe is also scored with them added to the provided ones
(candidates marked ``+local``), so the ranking says whether they help; a fold's target is never among its
references either way.

From those scores ``choose.candidates.choose_among`` builds every candidate (each recipe under every
per-target transform, plus the stackers), ranks them by the leaderboard's figure with a bootstrap CI over
target models, and lets a decision rule (``choose.rules``) pick: the best figure, the simplest candidate
inside the best one's CI, figures shrunk toward their family's record on other archives, the mean rank of
the top k, or always the stacker. ``DEFAULT_RULE`` was measured by its final-phase regret over many local
archives (``benchmarks/selection.py``); a track can name another (``recipe = { attack = "auto", rule = "best" }``).
"""

from __future__ import annotations

import numpy as np

from toolkit.attacks.registry import attack_spec
from toolkit.attacks.variants import default_recipes
from toolkit.choose.calibration import TRANSFORMS, combine
from toolkit.choose.candidates import AUTO, GIVEN, LOCAL, Selection, choose_among, rescore
from toolkit.choose.rules import named_rule
from toolkit.errors import ConfigError, ToolkitError
from toolkit.mico.scenario import PhaseArrays, ScenarioData, score_arrays, validation_folds
from toolkit.tracks import Recipe

__all__ = ["AUTO", "DEFAULT_RULE", "select", "candidate_scores", "score_arrays_auto", "auto_rule"]

# The lowest mean final-phase regret over 24 local scenarios, and the rule chosen leave-one-archive-out
# in each of the 8 folds (benchmarks/selection.py).
DEFAULT_RULE = "rank_top3"


def auto_rule(recipe: Recipe) -> str:
    """The decision rule an ``auto`` recipe names (``rule = "..."``), checked; ``DEFAULT_RULE`` where it names none."""
    return named_rule(recipe.params, DEFAULT_RULE)


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
    ``rule`` (default ``DEFAULT_RULE``) choose.

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
        raw += _raw_scores(with_local, [r for r in recipes if attack_spec(r.attack).needs_references], seed, LOCAL)
    return choose_among(
        raw,
        y,
        g,
        fold_of,
        rule=rule or DEFAULT_RULE,
        fpr=fpr,
        dp=sd.scenario.dp,
        fusion=fusion,
        transforms=transforms,
        n_boot=n_boot,
        seed=seed,
    )


def candidate_scores(
    sel: Selection, arrays: PhaseArrays, labels, seed: int = 0, local: PhaseArrays | None = None
) -> dict[str, np.ndarray]:
    """{label: scores [P]} of candidates ``labels`` on concatenated targets, each recipe scored once.

    ``local``: the same targets with the local references added, for the ``+local`` candidates.
    """

    def recipe_scores(r: Recipe, refs: str) -> np.ndarray:
        if refs == LOCAL and local is None:
            raise ConfigError(f"candidate {r.label()} +local needs the local references' outputs")
        return score_arrays(local if refs == LOCAL else arrays, r, seed)

    return rescore(sel, labels, recipe_scores, arrays.groups)


def score_arrays_auto(
    sel: Selection, arrays: PhaseArrays, seed: int = 0, local: PhaseArrays | None = None
) -> np.ndarray:
    """Scores [P] of the pick on concatenated targets (a dev/final phase); ``local`` as ``candidate_scores``."""
    labels = list(sel.pick.labels)
    scores = candidate_scores(sel, arrays, labels, seed, local)
    return combine([scores[label] for label in labels], arrays.groups, sel.pick.combine)
