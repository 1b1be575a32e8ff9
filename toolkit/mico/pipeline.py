"""The stages of a MICO-layout track, each reading the files the previous one wrote.

challenge (local tracks only) → outputs (cache) → attack (runs/<track>/attack/<scenario>.npz)
→ package (submissions/<track>/<run>/) → check. ``submit`` runs them all and returns the
metrics table. Every stage skips finished work: the outputs cache is content-addressed and the
challenge builder resumes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from toolkit.context import KIND_FACTS, Context, leaderboard_fpr
from toolkit.errors import ConfigError
from toolkit.metrics import FPR_GRID, figure_ci, metric_key, pooled_ci
from toolkit.mico.auto import AUTO, auto_rule, ranking_lines
from toolkit.mico.ceiling import ceiling_line, recipe_ceiling
from toolkit.mico.challenge import TARGET_PHASES
from toolkit.mico.predictions import PhaseScores, load_phase_scores, save_phase_scores
from toolkit.mico.scenario import ScenarioData
from toolkit.mico.scoring import known_solution, phase_metrics, score_phase, validation_scores
from toolkit.tracks import Recipe, Scenario, Track, runs_dir

__all__ = [
    "open_scenario",
    "Context",
    "resolve_recipe",
    "own_calibration",
    "stage_challenge",
    "stage_outputs",
    "stage_attack",
    "stage_package",
    "stage_check",
    "submit",
    "format_table",
    "METRIC_COLUMNS",
    "LEADERBOARD_FPR",
]

METRIC_COLUMNS = [metric_key(x) for x in FPR_GRID] + ["AUC", "MIA", "accuracy"]
LEADERBOARD_FPR = KIND_FACTS["mico"].leaderboard_fpr  # MICO ranks by TPR at FPR < 10%, pooled over a phase
RANKING_KEY = metric_key(LEADERBOARD_FPR)  # the scorer's name for that figure: TPR_FPR_1000


def open_scenario(ctx: Context, scenario: Scenario) -> ScenarioData:
    """``Context.open`` for a MICO track: the scenario's challenge folders (``mico.scenario``) and our references."""
    from toolkit.mico.references import load_local
    from toolkit.mico.scenario import open_scenario as open_folders

    sd = open_folders(ctx.track, scenario, ctx.data_dir, ctx.dataset_dir)
    sd.local = load_local(sd)  # reference models of our own, where `mia references` trained some
    return sd


def _tuned_entry(track: Track, scenario: Scenario) -> dict | None:
    """The scenario's entry of ``runs/<track>/tuned_recipes.json`` (written by ``mia tune``), if any."""
    tuned = runs_dir(track) / "tuned_recipes.json"
    if not tuned.is_file():
        return None
    try:
        return json.loads(tuned.read_text()).get(scenario.name)
    except (ValueError, AttributeError):
        raise ConfigError(f"{tuned} is not a tuned-recipes JSON object", "delete it or run `mia tune` again") from None


def resolve_recipe(track: Track, scenario: Scenario) -> tuple[Recipe, str]:
    """The tuned recipe or the track's default; with ``recipe = "auto"`` the tuned one competes inside auto."""
    entry = _tuned_entry(track, scenario)
    if entry and scenario.recipe.attack != AUTO:
        return Recipe.from_dict(entry["recipe"], "tuned_recipes.json"), "tuned"
    return scenario.recipe, "default"


def _timed(ctx: Context, name: str):
    class _T:
        def __enter__(self):
            self.t = time.perf_counter()

        def __exit__(self, *exc):
            ctx.timings[name] = ctx.timings.get(name, 0.0) + time.perf_counter() - self.t

    return _T()


def stage_challenge(ctx: Context, **sizes) -> Path | None:
    """Build the local challenge (tracks with a [build] table); organiser tracks are left as they are."""
    if ctx.track.build is None:
        return None
    from toolkit.mico.build import build_challenge

    with _timed(ctx, "challenge"):
        return build_challenge(ctx.track, ctx.data_dir, jobs=ctx.jobs, progress=ctx.progress, **sizes)


def stage_outputs(ctx: Context) -> dict[str, dict]:
    """Cache every model's outputs, all scenarios in one pool (worker start-up is paid once)."""
    from toolkit.outputs import get_outputs

    with _timed(ctx, "outputs"):
        pairs = {sc.name: ctx.open(sc).tasks(ctx.views) for sc in ctx.track.scenarios}
        flat = [t for tasks in pairs.values() for _, t in tasks]
        get_outputs(flat, jobs=ctx.jobs, cache_dir=ctx.cache_dir, progress=ctx.progress, scheduler=ctx.scheduler)
        return {name: ctx.paths(ctx.open(sc)) for sc in ctx.track.scenarios for name in [sc.name]}


def _metrics_for(sd: ScenarioData, ctx: Context, phases: dict, validation: tuple) -> dict:
    """Scorer figures on the known answers (local challenges) and on the validation split, each with the
    ranking figure's 95% interval (``ci95``: target models resampled)."""
    out = {}
    fpr = leaderboard_fpr(ctx.track)
    for phase, ps in phases.items():
        sol = known_solution(sd, ctx.data_dir, phase)
        if sol is not None:
            groups = np.repeat(np.arange(len(sol)), np.asarray(sol).shape[1])
            out[phase] = phase_metrics(sol, ps.scores)
            out[phase]["ci95"] = figure_ci(np.ravel(sol), np.ravel(ps.scores), fpr, groups=groups, seed=ctx.seed)
    out["validation"] = phase_metrics(*validation[:2])
    out["validation"]["ci95"] = figure_ci(*validation[:2], fpr, groups=validation[2], seed=ctx.seed)
    return out


def own_calibration(sd: ScenarioData) -> bool:
    """Every dev/final target reveals its training set (the ddp track): calibrate each against it."""
    return all(sd.splits[(ph, md.model_id)].training is not None for ph in TARGET_PHASES for md in sd.models[ph])


def _score(sd: ScenarioData, ctx: Context, paths: dict, recipe: Recipe, own: bool) -> tuple[dict, tuple]:
    """Normalised scores of both phases and the validation (solution, scores, groups) of one recipe."""
    if own:
        from toolkit.mico.ddp import ddp_scores, ddp_validation_scores

        phases = {ph: ddp_scores(sd, ph, paths, recipe, ctx) for ph in TARGET_PHASES}
        return phases, ddp_validation_scores(sd, paths, recipe, ctx)
    phases = {ph: score_phase(sd, ph, paths, recipe, seed=ctx.seed) for ph in TARGET_PHASES}
    return phases, validation_scores(sd, paths, recipe, seed=ctx.seed)


def _score_matched(sd: ScenarioData, ctx: Context, paths: dict, matched: dict) -> tuple[dict, tuple, dict]:
    """Targets scored against their own matched references (``mico.matched``), the attack chosen on validation."""
    from toolkit.mico.matched import matched_scores, select_matched

    sel = select_matched(sd, ctx, matched, paths, leaderboard_fpr(ctx.track))
    phases = {}
    for ph in TARGET_PHASES:
        ids = [md.model_id for md in sd.models[ph]]
        phases[ph] = PhaseScores.pooled(ph, ids, matched_scores(sd, ctx, matched, paths, ph, sel))
    k = len(next(iter(matched.values())).paths)
    meta = {
        "matched": {
            "per_target": k,
            "chosen": sel.recipe.label() + ("" if sel.transform == "raw" else f" [{sel.transform}]"),
            "objective": sel.objective,
            "ranking": sel.ranking[:10],
        }
    }
    return phases, sel.validation, meta


def _score_auto(sd: ScenarioData, ctx: Context, paths: dict, own: bool, tuned: dict | None, rule: str | None):
    """``recipe = "auto"``: choose on the validation split, then score both phases with the choice.

    A tuned recipe (``mia tune``) replaces the choice only where its held-out figure beats it. Where
    the targets calibrate against their own training sets (ddp), the choice is among single attacks.
    """
    from toolkit.mico.auto import score_arrays_auto, select

    sel = select(sd, paths, fpr=leaderboard_fpr(ctx.track), seed=ctx.seed, fusion=not own, rule=rule)
    meta = {"auto": sel.as_dict()}
    best = next(r for r in sel.ranking if r["chosen"])
    if tuned is not None and tuned["heldout"]["objective"] > best["objective"]:
        recipe = Recipe.from_dict(tuned["recipe"], "tuned_recipes.json")
        meta["auto"]["overridden_by_tuned"] = tuned["heldout"]["objective"]
        return (*_score(sd, ctx, paths, recipe, own), meta, recipe)
    if own:
        return (*_score(sd, ctx, paths, sel.chosen.recipe, own), meta, sel.chosen.recipe)
    phases = {}
    for ph in TARGET_PHASES:
        arrays = sd.phase_arrays(ph, paths, local=False)
        local = sd.with_local(arrays, paths) if sd.local else None
        phases[ph] = PhaseScores.pooled(ph, arrays.model_ids, score_arrays_auto(sel, arrays, ctx.seed, local))
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


def stage_attack(ctx: Context, baseline: bool = True) -> dict:
    """Score every dev/final model with the scenario's recipe (and the baseline); write stage files.

    Where the targets reveal their own training sets (ddp), the recipe's scores are calibrated per
    target against them (``toolkit.mico.ddp``); DP scenarios get an empirical ε lower bound from the
    recipe's validation scores and the ceiling their training recipe puts on any attack (``toolkit.mico.ceiling``).
    """
    from toolkit.mico.ddp import epsilon_report
    from toolkit.mico.matched import load_matched

    summary = {}
    with _timed(ctx, "attack"):
        for sc in ctx.track.scenarios:
            sd = ctx.open(sc)
            paths = ctx.paths(sd)
            recipe, origin = resolve_recipe(ctx.track, sc)
            methods = {"recipe": recipe}
            if baseline:
                methods["baseline"] = ctx.track.baseline
            own = own_calibration(sd)
            results, metrics, validation, extra = {}, {}, {}, {}
            matched = load_matched(sd) if own else None
            for method, rec in methods.items():
                if matched and method == "recipe":
                    results[method], validation[method], extra = _score_matched(sd, ctx, paths, matched)
                    origin = "matched references"
                elif rec.attack == AUTO:
                    results[method], validation[method], extra, chosen = _score_auto(
                        sd, ctx, paths, own and method == "recipe", _tuned_entry(ctx.track, sc), auto_rule(rec)
                    )
                    origin = "auto" if "overridden_by_tuned" not in extra["auto"] else "tuned (beats auto)"
                    extra["auto"]["used"] = chosen.as_dict() if chosen else extra["auto"]["chosen"]
                else:
                    results[method], validation[method] = _score(sd, ctx, paths, rec, own and method == "recipe")
                metrics[method] = _metrics_for(sd, ctx, results[method], validation[method])
            meta = {
                "recipe": recipe.as_dict(),
                "recipe_origin": origin,
                "baseline": ctx.track.baseline.as_dict(),
                "calibration": (
                    "matched references per target"
                    if matched
                    else "own training set per target"
                    if own
                    else "train-phase references"
                ),
                "references": _references_meta(sd),
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
                    meta["dp_ceiling"] = recipe_ceiling(ctx.track, sc)
                except ConfigError as exc:  # no accountant installed: the run goes on, the table says why
                    meta["dp_ceiling_missing"] = str(exc)
            save_phase_scores(
                runs_dir(ctx.track) / "attack" / f"{sc.name}.npz", sc.name, results, meta, validation=validation
            )
            summary[sc.name] = meta
    return summary


def _expected(ctx: Context) -> dict[str, dict[str, list[int]]]:
    exp = {}
    for sc in ctx.track.scenarios:
        sd = ctx.open(sc)
        exp[sc.folder or sc.name] = {ph: [md.model_id for md in sd.models[ph]] for ph in TARGET_PHASES}
    return exp


def stage_package(ctx: Context, out_root: Path = Path("submissions"), method: str = "recipe") -> Path:
    """Write prediction files, the zip and its manifest under ``submissions/<track>/<run>/``."""
    from toolkit.mico.package import write_submission
    from toolkit.provenance import manifest_base

    with _timed(ctx, "package"):
        preds, metas = {}, {}
        for sc in ctx.track.scenarios:
            stage = runs_dir(ctx.track) / "attack" / f"{sc.name}.npz"
            scores = load_phase_scores(stage)
            if method not in scores:
                raise ConfigError(f"no {method!r} scores in {stage}; run `mia attack` again")
            preds[sc.folder or sc.name] = scores[method]
            metas[sc.name] = json.loads(stage.with_suffix(".json").read_text())
        run = time.strftime("%Y%m%d-%H%M%S")
        out_dir = Path(out_root) / ctx.track.name / run
        manifest = {
            **manifest_base(),
            "track": ctx.track.name,
            "method": method,
            "scenarios": metas,
            "data_dir": str(ctx.data_dir),
            "build_seed": ctx.track.build.seed if ctx.track.build else None,
            "timings": dict(ctx.timings),
        }  # seconds of the stages run so far in this process
        return write_submission(out_dir, ctx.track.task, preds, _expected(ctx), 2 * ctx.track.m, manifest)


def stage_check(ctx: Context, zip_path: Path, format_only: bool = False) -> dict:
    """Format rules, then the scorer's metrics on every phase whose answers are known.

    The challenge folders give the expected model ids; where they are not at hand, the user asks for
    the format rules alone (``format_only``): a missing folder is an error, never a silent downgrade.
    """
    from toolkit.mico.check import read_zip_predictions

    with _timed(ctx, "check"):
        expected = None if format_only else _expected(ctx)
        folders = tuple(sc.folder or sc.name for sc in ctx.track.scenarios)
        found = read_zip_predictions(zip_path, ctx.track.task, folders, expected, 2 * ctx.track.m)
        report = {}
        if expected is None:
            return report
        for sc in ctx.track.scenarios:
            sd = ctx.open(sc)
            for phase in TARGET_PHASES:
                sol = known_solution(sd, ctx.data_dir, phase)
                if sol is not None:
                    got = found[sc.folder or sc.name][phase]
                    pred = np.stack([got[md.model_id] for md in sd.models[phase]])
                    report.setdefault(sc.name, {})[phase] = phase_metrics(sol, pred)
        return report


def format_table(summary: dict, source: str = "final") -> str:
    """A metrics table per scenario for the recipe and the baseline, then the ranking figure."""
    cols = METRIC_COLUMNS
    w = max([18, *(len(s) + 2 for s in summary)])  # a long scenario name must not run into the method
    ci_head = f"95% CI of {RANKING_KEY}"
    head = f"{'scenario':<{w}}{'method':<10}{'answers':<12}" + "".join(f"{c:>14}" for c in cols) + f"  {ci_head}"
    lines = [head, "-" * len(head)]
    ranking: dict[str, list[tuple[float, list[float] | None]]] = {}
    for scenario, meta in summary.items():
        for method in ("recipe", "baseline"):
            if method not in meta["metrics"]:
                continue
            m = meta["metrics"][method]
            where = source if source in m else "validation"
            row = m[where]
            ci = row.get("ci95")
            shown = f"  [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else ""
            lines.append(f"{scenario:<{w}}{method:<10}{where:<12}" + "".join(f"{row[c]:>14.4f}" for c in cols) + shown)
            ranking.setdefault(method, []).append((row[RANKING_KEY], ci))
    lines.append("")
    for method, rows in ranking.items():
        mean = f"mean {RANKING_KEY} over {len(rows)} scenarios"
        vals, cis = [v for v, _ in rows], [ci for _, ci in rows]
        lo_hi = pooled_ci(vals, cis) if all(cis) else None
        shown = f" [{lo_hi[0]:.4f}, {lo_hi[1]:.4f}]" if lo_hi else ""
        lines.append(f"ranking figure, {method:<9} ({mean}): {np.mean(vals):.4f}{shown}")
    for scenario, meta in summary.items():
        refs = meta.get("references") or {}
        if refs.get("n_local"):
            lines.append(f"local references, {scenario}: {refs['n_local']} of our own; {refs['verdict']}")
        if "matched" in meta:
            m = meta["matched"]
            lines.append(
                f"matched references, {scenario}: {m['per_target']} per target; chosen on validation: "
                f"{m['chosen']} ({m['objective']:.4f})"
            )
    for scenario, meta in summary.items():
        if "auto" in meta:
            lines += ["", *ranking_lines(scenario, meta["auto"])]
    if any("auto" in meta for meta in summary.values()):
        lines.append("")
    for scenario, meta in summary.items():
        if meta.get("dp_ceiling"):
            m = meta["metrics"]["recipe"]
            where = source if source in m else "validation"
            lines.append(ceiling_line(scenario, meta["dp_ceiling"], m[where][RANKING_KEY], LEADERBOARD_FPR, where))
        elif meta.get("dp_ceiling_missing"):
            lines.append(f"DP ceiling, {scenario}: not computed ({meta['dp_ceiling_missing']})")
        if "epsilon_lower_bound" in meta:
            e = meta["epsilon_lower_bound"]
            lines.append(
                f"empirical ε lower bound, {scenario} (claimed ε={e['claimed']:g}, δ={e['delta']:g}, "
                f"{1 - e['alpha']:.0%} confidence, validation split): {e['eps_lower']:.3f} "
                f"(point estimate {e['eps_point']:.3f})"
            )
    return "\n".join(lines)


def submit(ctx: Context, **sizes) -> tuple[Path, dict, str]:
    """Every stage in order; returns (zip path, per-scenario summary, printable table)."""
    stage_challenge(ctx, **sizes)
    stage_outputs(ctx)
    summary = stage_attack(ctx)
    zip_path = stage_package(ctx)
    stage_check(ctx, zip_path)
    return zip_path, summary, format_table(summary)
