"""References matched to each target, for tracks whose targets reveal ``seed_training`` (ddp).

A ddp target's training set is known but for which half of its 200 challenge points it holds.
``mia references --matched`` trains K references per target (``toolkit.references.plan.MatchedPlan``): its
known training rows plus a random half of its challenge points, in the track's recipe, so every
challenge point has K/2 references that hold it and K/2 that do not, each otherwise trained on
exactly the target's data. The same is done for a few train-phase models (their membership is
known), which form the validation split: every candidate (each registered recipe under each
per-target transform, as ``auto``'s) is scored there on its own targets' matched references, and
the best strict TPR at the board's FPR (+ 1e-3·AUC) scores the dev and final targets.

``runs/<track>/references/<scenario>.matched.json`` names each target's folder; without it the
ddp track keeps its own calibration (``mico.ddp``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toolkit.choose.calibration import TRANSFORMS, per_target
from toolkit.errors import ConfigError, DataError, ToolkitError
from toolkit.io import atomic_write_text
from toolkit.mico.challenge import TARGET_PHASES
from toolkit.mico.references import LocalReferences, reference_tasks
from toolkit.mico.references_stage import scenario_references
from toolkit.references.plan import MatchedPlan
from toolkit.references.runner import run_train_tasks
from toolkit.tracks import References, runs_dir

__all__ = [
    "matched_pointer",
    "stage_matched",
    "train_matched",
    "load_matched",
    "matched_scores",
    "score_matched",
    "MatchedSelection",
]

MATCHED_DEFAULT = 8  # matched references per target when -n is not given
VALIDATION_TARGETS = 8  # train-phase models given matched references, for choosing the attack


def matched_pointer(track, scenario) -> Path:
    """Where the scenario's matched references are registered (one folder per target)."""
    return runs_dir(track) / "references" / f"{scenario.name}.matched.json"


def _targets(sd, n_validation: int) -> list[tuple[str, int]]:
    """(phase, model id) of every dev/final target and the first ``n_validation`` train models."""
    out = [("train", md.model_id) for md in sd.models["train"][:n_validation]]
    out += [(ph, md.model_id) for ph in TARGET_PHASES for md in sd.models[ph]]
    for key in out:
        if sd.splits[key].training is None:
            raise DataError(
                f"model {key[0]}/model_{key[1]} of {sd.root} reveals no seed_training",
                "matched references need the targets' training sets (the ddp track's dev/final reveal them)",
            )
    return out


def _plan(sd, key, seed: int) -> MatchedPlan:
    s = sd.splits[key]
    return MatchedPlan(np.asarray(s.challenge), np.asarray(s.training), seed)


def train_matched(
    ctx, sd, k: int, refs: References, *, n_validation: int = VALIDATION_TARGETS
) -> dict[tuple[str, int], LocalReferences]:
    """Train (or resume) ``k`` matched references per target, all targets in one task list; register them."""
    if refs.len_training is not None:
        raise ConfigError("matched references take the target's own training size; drop len_training")
    sd.check_population()
    locals_, tasks = {}, []
    for key in _targets(sd, n_validation):
        local, t = reference_tasks(sd, k, refs, plan=_plan(sd, key, refs.seed))
        locals_[key] = local
        tasks += t
    run_train_tasks(tasks, jobs=ctx.jobs, scheduler=ctx.scheduler, progress=ctx.progress)
    body = {f"{ph}/{i}": {"folder": str(loc.folder.resolve()), "n_models": k} for (ph, i), loc in locals_.items()}
    path = matched_pointer(sd.track, sd.scenario)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps({"seed": refs.seed, "targets": body}, indent=2) + "\n")
    return locals_


def load_matched(sd) -> dict[tuple[str, int], LocalReferences] | None:
    """Each target's matched references named by the scenario's pointer file; None where there is none."""
    path = matched_pointer(sd.track, sd.scenario)
    if not path.is_file():
        return None
    try:
        body = json.loads(path.read_text())
        seed, targets = int(body["seed"]), body["targets"]
        entries = {(k.split("/")[0], int(k.split("/")[1])): v for k, v in targets.items()}
    except (ValueError, KeyError, TypeError, IndexError):
        raise ConfigError(f"{path} is not a matched-references pointer", "delete it or train them again") from None
    out = {}
    for key, v in entries.items():
        if key not in sd.splits:
            raise DataError(f"{path} names model {key[0]}/model_{key[1]}, which {sd.root} does not hold")
        paths = [Path(v["folder"]) / f"ref_{i:03d}.pt" for i in range(int(v["n_models"]))]
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise DataError(f"matched reference missing: {missing[0]}", "run `mia references --matched` again")
        out[key] = LocalReferences(Path(v["folder"]), paths, _plan(sd, key, seed), {})
    return out


def _arrays(sd, ctx, matched: dict, keys: list, paths: dict):
    """Concatenated (target, labels, ref, keep, groups, solution?) of targets ``keys`` with their matched refs."""
    from toolkit.mico.scenario import PhaseArrays
    from toolkit.outputs import OutputTask, get_outputs, load_output, load_outputs

    union = sd.union_points()
    proto = sd.tasks(ctx.views)[0][1]
    parts = []
    for key in keys:
        split = sd.splits[key]
        pts = np.asarray(split.challenge)
        own = load_output(paths[key])
        target = own[np.searchsorted(union, pts)] if key[0] == "train" else own
        local = matched[key]
        tasks = [OutputTask(**{**proto.__dict__, "model_path": p, "points": pts}) for p in local.paths]
        ref_paths = get_outputs(
            tasks, jobs=ctx.jobs, cache_dir=ctx.cache_dir, progress=ctx.progress, scheduler=ctx.scheduler
        )
        parts.append((target, load_outputs(ref_paths), local.keep(pts), pts, split.solution))
    labels = sd.labels()
    points = np.concatenate([p[3] for p in parts])
    sol = [p[4] for p in parts]
    return PhaseArrays(
        target=np.concatenate([p[0] for p in parts]),
        labels=labels[points],
        ref=np.concatenate([p[1] for p in parts], axis=1),  # every target has the same count K
        keep=np.concatenate([p[2] for p in parts], axis=1),
        groups=np.repeat(np.arange(len(keys)), [len(p[3]) for p in parts]),
        model_ids=[k[1] for k in keys],
        points=points,
        solution=np.concatenate(sol).astype(np.int64) if all(s is not None for s in sol) else None,
    )


def _per_target(arrays, recipe, seed: int) -> np.ndarray:
    """Raw scores: each target against its own matched references only (no other target's)."""
    from toolkit.attacks import run_attack

    out = np.empty(len(arrays.points))
    for g in np.unique(arrays.groups):
        rows = arrays.groups == g
        out[rows] = run_attack(
            recipe.attack,
            arrays.target[rows],
            arrays.labels[rows],
            arrays.ref[:, rows],
            arrays.keep[:, rows],
            seed=seed,
            **dict(recipe.params),
        )
    return out


@dataclass
class MatchedSelection:
    """The attack chosen on the train-phase targets' matched references: recipe, per-target transform, ranking."""

    recipe: object
    transform: str
    objective: float
    ranking: list[dict]
    validation: tuple  # (solution, scores, target ids) of the choice on the validation targets


def select_matched(sd, ctx, matched: dict, paths: dict, fpr: float = 0.1) -> MatchedSelection:
    """Every registered recipe × transform on the validation targets' matched references; the best one."""
    from toolkit.attacks.variants import default_recipes
    from toolkit.metrics import objective_value

    keys = [k for k in matched if k[0] == "train"]
    if len(keys) < 2:
        raise DataError("matched references of at least 2 train-phase models are needed to choose the attack")
    val = _arrays(sd, ctx, matched, keys, paths)
    rows = []
    for recipe in default_recipes():
        try:
            raw = _per_target(val, recipe, ctx.seed)
        except ToolkitError:
            continue
        for t in TRANSFORMS:
            scores = per_target(raw, val.groups, t)
            obj, tpr, auc = objective_value(val.solution, scores, fpr)
            rows.append({"recipe": recipe, "transform": t, "objective": obj, "tpr": tpr, "auc": auc, "scores": scores})
    rows.sort(key=lambda r: -r["objective"])
    best = rows[0]
    ranking = [
        {**{k: v for k, v in r.items() if k not in ("recipe", "scores")}, "label": r["recipe"].label()} for r in rows
    ]
    validation = (val.solution, best["scores"], np.asarray(val.model_ids)[val.groups])
    return MatchedSelection(best["recipe"], best["transform"], best["objective"], ranking, validation)


def matched_scores(sd, ctx, matched: dict, paths: dict, phase: str, sel: MatchedSelection) -> np.ndarray:
    """Scores [P] of a dev/final phase's targets (concatenated in model order) with the chosen candidate."""
    keys = [(phase, md.model_id) for md in sd.models[phase]]
    missing = [k for k in keys if k not in matched]
    if missing:
        raise DataError(
            f"no matched references for {phase}/model_{missing[0][1]}", "run `mia references --matched` again"
        )
    arrays = _arrays(sd, ctx, matched, keys, paths)
    raw = _per_target(arrays, sel.recipe, ctx.seed)
    return per_target(raw, arrays.groups, sel.transform)


def score_matched(sd, ctx, matched: dict, paths: dict, fpr: float = 0.1) -> tuple[dict, tuple, dict]:
    """Both phases' raw scores ({phase: (target ids, scores)}), each target against its own matched references
    with the attack chosen on the validation targets (``select_matched``); that choice's validation (solution,
    scores, target ids) and its meta."""
    sel = select_matched(sd, ctx, matched, paths, fpr)
    phases = {}
    for ph in TARGET_PHASES:
        ids = [md.model_id for md in sd.models[ph]]
        phases[ph] = ids, matched_scores(sd, ctx, matched, paths, ph, sel)
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


def stage_matched(ctx, *, n_models: int | None = None, scenarios=None, overrides: dict | None = None) -> list[str]:
    """``mia references --matched``: K references per target of each scenario (targets that reveal seed_training)."""
    import time

    lines = []
    for name in list(scenarios or ctx.track.scenario_names):
        refs = scenario_references(ctx, name, overrides)
        k = n_models or MATCHED_DEFAULT
        start = time.perf_counter()
        done = train_matched(ctx, ctx.open(ctx.track.scenario(name)), k, refs)
        lines.append(
            f"{name}: {k} matched references for each of {len(done)} targets "
            f"({time.perf_counter() - start:.0f} s this run)"
        )
    return lines
