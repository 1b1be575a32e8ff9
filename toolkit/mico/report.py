"""The report of a MICO-layout submission: what ``mia submit`` writes beside ``<task>.zip``.

Reads the attack stage's files (``runs/<track>/attack/<scenario>.npz``: dev/final scores and the
validation split's solution and raw scores of the recipe and the baseline), the known answers of a
local challenge (``known_solution``) and the run's ``manifest.json``. On the validation split it
also scores the registered attack families at their defaults (``default_families``: every family
but those that train a model of their own per call, which would cost more than the submission),
so the recipe is seen against them; dev/final curves show the recipe and the baseline, the two
methods whose dev/final scores the attack stage wrote.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from toolkit.context import leaderboard_fpr
from toolkit.errors import ToolkitError
from toolkit.mico.challenge import TARGET_PHASES
from toolkit.report.build import REPORT_DATA, write_report
from toolkit.report.data import ReportData, provenance, rank_methods
from toolkit.tracks import Recipe, runs_dir

__all__ = ["TRAINED_FAMILIES", "SPLIT_TITLES", "default_families", "collect", "write_submission_report"]

# Families that fit a model of their own on every call; left out of the report's comparison by default.
TRAINED_FAMILIES = {
    "ensemble": "trains a classifier stack per fold",
    "quantile": "trains quantile regressors",
    "shokri": "trains a membership classifier on the references",
}
SPLIT_TITLES = {
    "validation": "validation split (train-phase models as targets, the others as references)",
    "dev": "dev phase (known answers)",
    "final": "final phase (known answers)",
}


def default_families() -> list[str]:
    """Every registered attack family except ``TRAINED_FAMILIES``."""
    from toolkit.attacks import attack_names

    return [n for n in attack_names() if n not in TRAINED_FAMILIES]


def _full(recipe: Recipe) -> str | None:
    """The recipe with every default filled in, as comparable text; None for a name no attack has (auto)."""
    from toolkit.attacks import attack_params

    try:
        params = {**attack_params(recipe.attack), **dict(recipe.params)}
    except ToolkitError:
        return None
    return json.dumps([recipe.attack, params], sort_keys=True, default=str)


def _drawn(meta: dict) -> set[str]:
    """The recipes already drawn as 'recipe' and 'baseline' (auto's choice where it is one untransformed attack)."""
    recipes = [meta.get("baseline")]
    auto = meta.get("auto")
    if auto is None:
        recipes.append(meta.get("recipe"))
    elif auto.get("transform", "raw") == "raw" and isinstance(auto.get("used"), dict):
        recipes.append(auto["used"])
    return {_full(Recipe.from_dict(r, "manifest")) for r in recipes if isinstance(r, dict)} - {None}


def _provenance(manifest: dict, ctx) -> dict:
    seeds = {sc: m.get("seed") for sc, m in manifest.get("scenarios", {}).items()}
    return provenance(
        manifest,
        {
            "challenge build seed": manifest.get("build_seed"),
            "attack seeds": json.dumps(seeds),
            "views": ", ".join(ctx.views),
            "data folder": manifest.get("data_dir"),
            "packaged method": manifest.get("method"),
        },
    )


def _choice(meta: dict) -> tuple[list[str], dict[str, str]]:
    """Lines on how the recipe was chosen, and the legend labels of 'recipe' and 'baseline'."""
    recipe = Recipe.from_dict(meta["recipe"], "manifest").label()
    baseline = Recipe.from_dict(meta["baseline"], "manifest").label()
    origins = {
        "tuned": "tuned by `mia tune` (runs/<track>/tuned_recipes.json)",
        "auto": "chosen on the validation split by auto",
        "default": "the track.toml default",
    }
    origin = origins.get(meta.get("recipe_origin"), str(meta.get("recipe_origin")))
    lines = [f"Recipe: {recipe}, {origin}; calibration: {meta.get('calibration')}."]
    auto = meta.get("auto")
    if auto:
        used = auto.get("used")
        used = Recipe.from_dict(used, "manifest").label() if isinstance(used, dict) else str(used)
        lines.append(
            f"auto chose {auto.get('chosen')} among {len(auto.get('ranking', []))} candidates"
            + (f" (rule {auto['rule']})" if auto.get("rule") else "")
            + "; "
            f"scored with {used}"
            + (
                f" (transform {auto['transform']})"
                if auto.get("transform") and auto.get("combine", "one") == "one"
                else ""
            )
            + (", overridden by the tuned recipe" if "overridden_by_tuned" in auto else "")
            + "."
        )
        recipe = auto.get("chosen", recipe)
    refs = meta.get("references") or {}
    if refs.get("n_local"):
        lines.append(
            f"References: the provided train-phase models and {refs['n_local']} of our own; {refs.get('verdict')}."
        )
    lines.append(f"Baseline: {baseline}.")
    return lines, {"recipe": f"recipe: {recipe}", "baseline": f"baseline: {baseline}"}


def _auto_ranking(auto: dict, top: int = 15) -> dict:
    """auto's own ranking from the manifest: its objective (strict TPR at the board's FPR + 1e-3·AUC) with CIs."""
    shown = auto["ranking"][:top] + [r for r in auto["ranking"][top:] if r.get("chosen")]
    rows = [
        {
            "method": r["label"],
            "value": r["objective"],
            "ci": r["ci"],
            "TPR": r.get("tpr", ""),
            "AUC": r.get("auc", ""),
            "chosen": "chosen" + (f" ({r['note']})" if r.get("note") else "") if r.get("chosen") else "",
        }
        for r in shown
    ]
    return {
        "split": "validation",
        "title": "auto's selection (from the manifest)",
        "value": "objective",
        "how": f"objective = strict TPR at the leaderboard's FPR + 1e-3·AUC; 95% CI: bootstrap over target "
        f"models; top {top} of {len(auto['ranking'])} candidates (and the chosen one).",
        "rows": rows,
    }


def _known_phases(data: ReportData, ctx, sd, stage: Path) -> None:
    from toolkit.mico.predictions import load_phase_scores
    from toolkit.mico.scoring import known_solution

    phases = load_phase_scores(stage)
    for phase in TARGET_PHASES:
        sol = known_solution(sd, ctx.data_dir, phase)
        if sol is None:
            continue
        ids = [md.model_id for md in sd.models[phase]]
        for method, by_phase in phases.items():
            table = by_phase[phase].by_model()
            scores = np.stack([table[i] for i in ids])
            data.add(sd.scenario.name, phase, method, sol, scores, np.repeat(ids, sol.shape[1]))


def _families(data: ReportData, ctx, sd, families: list[str], skip: set) -> list[str]:
    from toolkit.mico.scenario import validation_scores

    entry, notes = data.scenario(sd.scenario.name), []
    paths = ctx.paths(sd)
    for name in families:
        if _full(Recipe(name)) in skip:
            notes.append(f"{name} at its defaults is the recipe or the baseline: drawn once")
            continue
        try:
            y, s, g = validation_scores(sd, paths, Recipe(name), seed=ctx.seed)  # the recipe's folds
        except ToolkitError as exc:
            notes.append(f"{name} not compared: {exc}")
            continue
        data.add(sd.scenario.name, "validation", name, y, s, g)
        entry["labels"][name] = f"{name} (defaults)"
    return notes


def _scenario(data: ReportData, ctx, sc, meta: dict, families: list[str], n_boot: int) -> None:
    from toolkit.mico.predictions import load_validation_scores

    stage = runs_dir(ctx.track) / "attack" / f"{sc.name}.npz"
    sd = ctx.open(sc)
    entry = data.scenario(sc.name)
    entry["choice"], entry["labels"] = _choice(meta)
    entry["notes"] = []
    validation = load_validation_scores(stage)
    for method, (y, s, g) in validation.items():
        data.add(sc.name, "validation", method, y, s, g)
    if not validation:
        entry["notes"].append(
            f"{stage} holds no validation scores (written before they were kept): re-run `mia attack`"
        )
    entry["notes"] += _families(data, ctx, sd, families, _drawn(meta))
    _known_phases(data, ctx, sd, stage)
    fpr = float(data.meta["leaderboard_fpr"])
    entry["ranking"] = {
        "split": "validation",
        "how": f"strict TPR at FPR < {fpr:g} over the pooled validation "
        f"targets; 95% CI: bootstrap over target models ({n_boot} resamples).",
        "rows": rank_methods(data, sc.name, "validation", fpr, n_boot=n_boot, seed=ctx.seed),
    }
    if meta.get("auto", {}).get("ranking"):
        entry["auto_ranking"] = _auto_ranking(meta["auto"])
    if meta.get("epsilon_lower_bound"):
        entry["epsilon"] = meta["epsilon_lower_bound"]
    if meta.get("dp_ceiling"):
        entry["dp_ceiling"] = _ceiling(meta["dp_ceiling"], fpr)


def _ceiling(c: dict, fpr: float) -> dict:
    """The DP ceiling's curve (from the per-recipe cache, or computed again from the manifest's q, T, σ),
    its legend label and its values for the page's table."""
    from toolkit.metrics import FPR_GRID, metric_key
    from toolkit.privacy import cached_ceiling

    curve = cached_ceiling(
        sample_rate=c["sample_rate"], steps=c["steps"], noise_multiplier=c["noise_multiplier"], fprs=FPR_GRID
    )
    at = c["tpr_ceiling"][metric_key(fpr)]
    values = {  # text, so that the page's 4-decimal number format does not turn δ into 0.0000
        "ε, δ": f"{c['epsilon']:g}, {c['delta']:g}",
        "sample rate q, steps T": f"{c['sample_rate']:.4g}, {c['steps']}",
        "noise multiplier σ": f"{c['noise_multiplier']:.4g} ({c['accountant']} accountant)",
    }
    values |= {f"TPR ceiling at FPR {x:g}": c["tpr_ceiling"][metric_key(x)] for x in FPR_GRID}
    return {
        "fpr": curve["fpr"],
        "tpr": curve["tpr"],
        "label": f"DP ceiling (ε={c['epsilon']:g}, q={c['sample_rate']:.3g}, T={c['steps']}): TPR ≤ {at:.3f}",
        "values": values | {"computed with": f"{c['library']} (PLD, {c['adjacency']})", "recipe table": c["source"]},
    }


def collect(ctx, zip_path: Path, *, families: list[str] | None = None, n_boot: int = 200) -> ReportData:
    """The report's data of the submission at ``zip_path`` (its folder holds ``manifest.json``)."""
    from toolkit.mico.pipeline import format_table

    zip_path = Path(zip_path)
    manifest = json.loads((zip_path.parent / "manifest.json").read_text())
    chosen = default_families() if families is None else list(families)
    data = ReportData(
        {
            "title": f"{ctx.track.name}: submission {zip_path.parent.name}",
            "track": ctx.track.name,
            "submission": str(zip_path),
            "leaderboard_fpr": leaderboard_fpr(ctx.track),
            "printed": format_table(manifest["scenarios"]),
            "split_titles": SPLIT_TITLES,
            "timings": dict(ctx.timings) or manifest.get("timings", {}),
            "provenance": _provenance(manifest, ctx),
        }
    )
    for sc in ctx.track.scenarios:
        _scenario(data, ctx, sc, manifest["scenarios"][sc.name], chosen, n_boot)
    left = sorted(set(TRAINED_FAMILIES) - set(chosen))
    data.meta["notes"] = [
        f"Families compared on the validation split at their defaults: {', '.join(chosen) or 'none'}."
    ]
    if left:
        data.meta["notes"].append(
            "Not compared (each "
            + "; ".join(f"{n}: {TRAINED_FAMILIES[n]}" for n in left)
            + "): pass families= to toolkit.mico.report.collect to include them."
        )
    return data


def write_submission_report(ctx, zip_path: Path, **kw) -> Path:
    """Write ``report.npz``, the PNGs and ``report.html`` beside ``zip_path``; return the page's path."""
    folder = Path(zip_path).parent
    data = collect(ctx, zip_path, **kw)
    data.save(folder / REPORT_DATA)
    return write_report(folder, data)
