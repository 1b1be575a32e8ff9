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

from toolkit.context import Context
from toolkit.errors import ConfigError
from toolkit.mico.attack import attack_scenario
from toolkit.mico.auto import AUTO
from toolkit.mico.challenge import TARGET_PHASES
from toolkit.mico.predictions import load_phase_scores, save_phase_scores
from toolkit.mico.scenario import ScenarioData
from toolkit.mico.scoring import known_metrics
from toolkit.mico.table import LEADERBOARD_FPR, METRIC_COLUMNS, format_table
from toolkit.tracks import Recipe, Scenario, Track, runs_dir

__all__ = [
    "open_scenario",
    "Context",
    "resolve_recipe",
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
    return _recipe_of(scenario, _tuned_entry(track, scenario))


def _recipe_of(scenario: Scenario, entry: dict | None) -> tuple[Recipe, str]:
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


def _opened(ctx: Context) -> dict[Scenario, ScenarioData]:
    """Every scenario of the track opened once: its models, seeds and our references (``Context.open``)."""
    return {sc: ctx.open(sc) for sc in ctx.track.scenarios}


def stage_challenge(ctx: Context, **sizes) -> Path | None:
    """Build the local challenge (tracks with a [build] table); organiser tracks are left as they are."""
    if ctx.track.build is None:
        return None
    from toolkit.mico.build import build_challenge

    with _timed(ctx, "challenge"):
        return build_challenge(ctx.track, ctx.data_dir, jobs=ctx.jobs, progress=ctx.progress, **sizes)


def stage_outputs(ctx: Context) -> dict[str, dict]:
    """Cache every model's outputs, all scenarios in one pool (worker start-up is paid once)."""
    return _cache_outputs(ctx)[1]


def _cache_outputs(ctx: Context) -> tuple[dict[Scenario, ScenarioData], dict[str, dict]]:
    """Every scenario opened and its models' outputs planned, one scenario after the other (so the first
    scenario's problem is the one reported), then computed in one pool: (opened scenarios, their paths)."""
    from toolkit.outputs import get_outputs

    with _timed(ctx, "outputs"):
        opened, pairs = {}, {}
        for sc in ctx.track.scenarios:
            opened[sc] = ctx.open(sc)
            pairs[sc.name] = opened[sc].tasks(ctx.views)
        flat = [t for tasks in pairs.values() for _, t in tasks]
        done = iter(
            get_outputs(flat, jobs=ctx.jobs, cache_dir=ctx.cache_dir, progress=ctx.progress, scheduler=ctx.scheduler)
        )  # in task order: each scenario's {(phase, model id): cache path} as ``ScenarioData.outputs`` keys it
        return opened, {name: {(md.phase, md.model_id): next(done) for md, _ in tasks} for name, tasks in pairs.items()}


def stage_attack(ctx: Context, baseline: bool = True) -> dict:
    """Score every dev/final model with the scenario's recipe (and the baseline); write stage files.

    Where the targets reveal their own training sets (ddp), the recipe's scores are calibrated per
    target against them (``toolkit.mico.ddp``); DP scenarios get an empirical ε lower bound from the
    recipe's validation scores and the ceiling their training recipe puts on any attack (``toolkit.mico.ceiling``).
    """
    opened = _opened(ctx)
    return _attack(ctx, opened, {sc.name: ctx.paths(sd) for sc, sd in opened.items()}, baseline)[0]


def _attack(ctx: Context, opened: dict[Scenario, ScenarioData], paths: dict[str, dict], baseline: bool = True):
    """(summary: {scenario: meta}, stages: {scenario: (scores, stage file's meta)}): what each stage file holds."""
    summary, stages = {}, {}
    with _timed(ctx, "attack"):
        for sc, sd in opened.items():
            tuned = _tuned_entry(ctx.track, sc)
            recipe, origin = _recipe_of(sc, tuned)
            methods = {"recipe": recipe, **({"baseline": ctx.track.baseline} if baseline else {})}
            results, validation, meta = attack_scenario(
                sd, ctx, paths[sc.name], methods, origin, tuned, LEADERBOARD_FPR
            )
            written = save_phase_scores(
                runs_dir(ctx.track) / "attack" / f"{sc.name}.npz", sc.name, results, meta, validation=validation
            )
            summary[sc.name], stages[sc.name] = meta, (results, written)
    return summary, stages


def _expected(opened: dict[Scenario, ScenarioData]) -> dict[str, dict[str, list[int]]]:
    """{challenge folder: {phase: model ids}}: what the zip must hold."""
    return {
        sc.folder or sc.name: {ph: [md.model_id for md in sd.models[ph]] for ph in TARGET_PHASES}
        for sc, sd in opened.items()
    }


def stage_package(ctx: Context, out_root: Path = Path("submissions"), method: str = "recipe") -> Path:
    """Write prediction files, the zip and its manifest under ``submissions/<track>/<run>/``."""
    opened = _opened(ctx)
    stages = {}
    for sc in ctx.track.scenarios:  # the attack stage's files, read back
        stage = runs_dir(ctx.track) / "attack" / f"{sc.name}.npz"
        scores = load_phase_scores(stage)
        if method not in scores:
            raise ConfigError(f"no {method!r} scores in {stage}; run `mia attack` again")
        stages[sc.name] = scores, json.loads(stage.with_suffix(".json").read_text())
    return _package(ctx, opened, stages, out_root, method)


def _package(
    ctx: Context, opened: dict, stages: dict, out_root: Path = Path("submissions"), method: str = "recipe"
) -> Path:
    """``stages``: each scenario's (scores, meta) as its attack-stage file holds them, ``method``'s among the scores."""
    from toolkit.mico.package import write_submission
    from toolkit.provenance import manifest_base

    with _timed(ctx, "package"):
        preds, metas = {}, {}
        for sc in ctx.track.scenarios:
            scores, metas[sc.name] = stages[sc.name]
            preds[sc.folder or sc.name] = scores[method]
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
        return write_submission(out_dir, ctx.track.task, preds, _expected(opened), 2 * ctx.track.m, manifest)


def stage_check(ctx: Context, zip_path: Path, format_only: bool = False) -> dict:
    """Format rules, then the scorer's metrics on every phase whose answers are known.

    The challenge folders give the expected model ids; where they are not at hand, the user asks for
    the format rules alone (``format_only``): a missing folder is an error, never a silent downgrade.
    """
    return _check(ctx, None if format_only else _opened(ctx), zip_path)


def _check(ctx: Context, opened: dict | None, zip_path: Path) -> dict:
    from toolkit.mico.check import read_zip_predictions

    with _timed(ctx, "check"):
        expected = None if opened is None else _expected(opened)
        folders = tuple(sc.folder or sc.name for sc in ctx.track.scenarios)
        found = read_zip_predictions(zip_path, ctx.track.task, folders, expected, 2 * ctx.track.m)
        if opened is None:
            return {}
        return known_metrics(opened, ctx.data_dir, found)


def submit(ctx: Context, **sizes) -> tuple[Path, dict, str]:
    """Every stage in order, the scenarios opened once; returns (zip path, per-scenario summary, printable table)."""
    stage_challenge(ctx, **sizes)
    opened, paths = _cache_outputs(ctx)
    summary, stages = _attack(ctx, opened, paths)
    zip_path = _package(ctx, opened, stages)  # the stage files' content as written, not read back
    _check(ctx, opened, zip_path)
    return zip_path, summary, format_table(summary)
