"""The attack stage of one MICO scenario: each method's scores of both phases and of the validation split, and
what the stage file's meta says of them.

A recipe scores the targets against the train-phase references (``mico.scoring``); where the targets reveal
their own training sets (ddp) each is calibrated against them (``mico.ddp``), or scored against references
matched to it where ``mia references --matched`` trained some (``mico.matched``); ``recipe = "auto"`` chooses on
the validation split first (``mico.auto``). Every method gets the scorer's figures, and DP scenarios an
empirical ε lower bound and the ceiling their training recipe puts on any attack (``mico.ceiling``).
"""

from __future__ import annotations

import numpy as np

from toolkit.context import Context
from toolkit.errors import ConfigError
from toolkit.metrics import figure_ci
from toolkit.mico.auto import AUTO, auto_rule
from toolkit.mico.ceiling import epsilon_report, recipe_ceiling
from toolkit.mico.challenge import TARGET_PHASES
from toolkit.mico.predictions import PhaseScores
from toolkit.mico.scenario import ScenarioData, raw_phase_scores, validation_scores
from toolkit.mico.scoring import known_solution, phase_metrics
from toolkit.tracks import Recipe

__all__ = ["attack_scenario"]


def attack_scenario(
    sd: ScenarioData, ctx: Context, paths: dict, methods: dict[str, Recipe], origin: str, tuned, fpr: float
):
    """Scores of both phases and the validation split of each method (``recipe`` and perhaps ``baseline``), and
    the stage file's meta: the recipe and where it came from, the calibration, the metrics (``metrics_for``), the
    DP figures. ``tuned``: the scenario's tuned-recipes entry, which competes inside ``auto``; ``ctx`` gives the
    seed, views and how models run."""
    from toolkit.mico.matched import load_matched, score_matched

    sc, recipe = sd.scenario, methods["recipe"]
    own, references = _reveals_training(sd), _references_meta(sd)
    matched = load_matched(sd) if own else None
    calibration = (  # what the targets are scored against, as the meta says
        "matched references per target"
        if matched
        else "own training set per target"
        if own
        else "train-phase references"
    )
    results, metrics, validation, extra = {}, {}, {}, {}
    for method, rec in methods.items():
        if matched and method == "recipe":
            raw, validation[method], extra = score_matched(sd, ctx, matched, paths, fpr)
            origin = "matched references"
        elif rec.attack == AUTO:
            raw, validation[method], extra, chosen = _score_auto(
                sd, ctx, paths, own and method == "recipe", tuned, auto_rule(rec), fpr
            )
            origin = "auto" if "overridden_by_tuned" not in extra["auto"] else "tuned (beats auto)"
            extra["auto"]["used"] = chosen.as_dict() if chosen else extra["auto"]["chosen"]
        else:
            raw, validation[method] = _score(sd, ctx, paths, rec, own and method == "recipe")
        results[method] = {ph: PhaseScores.pooled(ph, ids, s) for ph, (ids, s) in raw.items()}  # one map per phase
        metrics[method] = _metrics_for(sd, ctx, results[method], validation[method], fpr)
    meta = {
        "recipe": recipe.as_dict(),
        "recipe_origin": origin,
        "baseline": sd.track.baseline.as_dict(),
        "calibration": calibration,
        "references": references,
        "metrics": metrics,
        "seed": ctx.seed,
        "views": list(ctx.views),
        **extra,
    }
    if sc.dp:
        try:
            meta["epsilon_lower_bound"] = {
                "claimed": sc.epsilon,
                **epsilon_report(*validation["recipe"][:2], seed=ctx.seed),
            }
        except ConfigError:  # a validation split too small to hold both classes in each half
            pass
        try:
            meta["dp_ceiling"] = recipe_ceiling(sd.track, sc)
        except ConfigError as exc:  # no accountant installed: the run goes on, the table says why
            meta["dp_ceiling_missing"] = str(exc)
    return results, validation, meta


def _metrics_for(sd: ScenarioData, ctx: Context, phases: dict, validation: tuple, fpr: float) -> dict:
    """Scorer figures on the known answers (local challenges) and on the validation split, each with the
    ranking figure's 95% interval (``ci95``: target models resampled)."""
    out = {}
    for phase, ps in phases.items():
        sol = known_solution(sd, ctx.data_dir, phase)
        if sol is not None:
            groups = np.repeat(np.arange(len(sol)), np.asarray(sol).shape[1])
            out[phase] = phase_metrics(sol, ps.scores)
            out[phase]["ci95"] = figure_ci(np.ravel(sol), np.ravel(ps.scores), fpr, groups=groups, seed=ctx.seed)
    out["validation"] = phase_metrics(*validation[:2])
    out["validation"]["ci95"] = figure_ci(*validation[:2], fpr, groups=validation[2], seed=ctx.seed)
    return out


def _reveals_training(sd: ScenarioData) -> bool:
    """Every dev/final target reveals its training set (the ddp track): calibrate each against it."""
    return all(sd.splits[(ph, md.model_id)].training is not None for ph in TARGET_PHASES for md in sd.models[ph])


def _score(sd: ScenarioData, ctx: Context, paths: dict, recipe: Recipe, own: bool) -> tuple[dict, tuple]:
    """Raw scores of both phases ({phase: (target ids, scores)}) and the validation (solution, scores, groups)."""
    if own:
        from toolkit.mico.ddp import ddp_raw_scores, ddp_validation_scores

        phases = {ph: ddp_raw_scores(sd, ph, paths, recipe, ctx) for ph in TARGET_PHASES}
        return phases, ddp_validation_scores(sd, paths, recipe, ctx)
    phases = {ph: raw_phase_scores(sd, ph, paths, recipe, seed=ctx.seed) for ph in TARGET_PHASES}
    return phases, validation_scores(sd, paths, recipe, seed=ctx.seed)


def _score_auto(sd: ScenarioData, ctx: Context, paths: dict, own: bool, tuned: dict | None, rule: str | None, fpr):
    """``recipe = "auto"``: choose on the validation split, then score both phases with the choice.

    A tuned recipe (``mia tune``) replaces the choice only where its held-out figure beats it. Where
    the targets calibrate against their own training sets (ddp), the choice is among single attacks.
    """
    from toolkit.mico.auto import score_arrays_auto, select

    sel = select(sd, paths, fpr=fpr, seed=ctx.seed, fusion=not own, rule=rule)
    meta = {"auto": sel.as_dict()}
    best = next(r for r in sel.ranking if r["chosen"])
    recipe = None  # one recipe scored as any other: the tuned one, or with own calibration the single attack chosen
    if tuned is not None and tuned["heldout"]["objective"] > best["objective"]:
        recipe = Recipe.from_dict(tuned["recipe"], "tuned_recipes.json")
        meta["auto"]["overridden_by_tuned"] = tuned["heldout"]["objective"]
    elif own:
        recipe = sel.chosen.recipe
    if recipe is not None:
        return (*_score(sd, ctx, paths, recipe, own), meta, recipe)
    phases = {}
    for ph in TARGET_PHASES:
        arrays = sd.phase_arrays(ph, paths, local=False)
        local = sd.with_local(arrays, paths) if sd.local else None
        phases[ph] = arrays.model_ids, score_arrays_auto(sel, arrays, ctx.seed, local)
    return phases, sel.validation, meta, sel.chosen.recipe if len(sel.picked()) == 1 else None


def _references_meta(sd: ScenarioData) -> dict:
    """What the manifest and the report say about local references: how many, where, the check's verdict."""
    if sd.local is None:
        return {"n_local": 0}
    check = sd.local.check or {}
    return {
        "n_local": len(sd.local.paths),
        "folder": str(sd.local.folder),
        "recipe": sd.local.recipe,
        "verdict": check.get("verdict", "not checked"),
        "matches": check.get("matches"),
    }
