"""``mia references``, stage by stage: the scenario's training settings, an optional grid search (``--match``),
training, the check against the provided train-phase models, and the pointer ``submit`` reads."""

from __future__ import annotations

from dataclasses import replace

from toolkit.errors import ConfigError
from toolkit.mico.challenge import PHASES
from toolkit.mico.references import (
    LocalReferences,
    reference_architecture,
    save_pointer,
    seconds_per_model,
    train_references,
)
from toolkit.references.training import train_config
from toolkit.tracks import References

__all__ = ["check", "check_inputs", "match", "scenario_references", "stage_references"]


def check(sd, paths: dict) -> dict:
    """The local references beside the provided train-phase models on the scenario's challenge points.

    Both sets' pooled train/test accuracy and member/non-member loss quartiles (each model's IN
    points as its training set), the per-point correlation of their OUT means, and a one-line verdict.
    """
    from toolkit.outputs import load_outputs
    from toolkit.references.check import distance, matches, out_correlation, reference_stats, verdict

    union = sd.union_points()
    labels = sd.labels()[union]
    given = load_outputs([paths[("train", md.model_id)] for md in sd.models["train"]])
    given_keep = sd.train_keep(union)
    ours, ours_keep = sd.local_arrays(paths, union)
    provided, local = reference_stats(given, labels, given_keep), reference_stats(ours, labels, ours_keep)
    r = out_correlation(given, given_keep, ours, ours_keep, labels)
    line = verdict(local, provided, "local references", "the provided models")
    return {
        "provided": provided.as_dict(),
        "local": local.as_dict(),
        "distance": distance(local, provided),
        "out_correlation": r,
        "matches": matches(local, provided),
        "verdict": f"{line}; per-point OUT-mean correlation {r:.2f}",
    }


def _attach(ctx, sd, local: LocalReferences) -> dict:
    """Outputs of ``sd``'s models and of ``local`` (computed where missing), with ``local`` attached."""
    sd.local = local
    return ctx.paths(sd)


def match(ctx, sd, refs: References, *, probes: int = 2) -> tuple[References, list[dict]]:
    """Train ``probes`` references per grid point (epochs ×½, ×1, ×2; lr ×½, ×2); keep the closest settings.

    The probes are the first models of their settings' folder, so the chosen settings' run reuses them.
    """
    from toolkit.references.check import match_grid

    cfg = train_config(refs, epsilon=sd.scenario.epsilon)
    dp = sd.scenario.dp
    rows, best = [], None
    for probe in match_grid(cfg):
        candidate = replace(refs, epochs=probe.epochs, lr=probe.lr)
        if dp:
            candidate = replace(refs, dp_epochs=probe.epochs, dp_lr=probe.lr)
        local = train_references(sd, probes, candidate, jobs=ctx.jobs, scheduler=ctx.scheduler, progress=ctx.progress)
        result = check(sd, _attach(ctx, sd, local))
        rows.append(
            {"epochs": probe.epochs, "lr": probe.lr, "distance": result["distance"], "verdict": result["verdict"]}
        )
        if best is None or result["distance"] < best[1]:
            best = (candidate, result["distance"])
    sd.local = None
    return best[0], rows


def scenario_references(ctx, name: str, overrides: dict | None = None) -> References:
    """The ``[references]`` table of scenario ``name`` with the command line's ``overrides``, checked
    (settings the trainer cannot run, or no [references] table, fail here, before any training)."""
    sc = ctx.track.scenario(name)
    refs = ctx.track.references_of(sc)
    if refs is None:
        raise ConfigError(
            f"track {ctx.track.name!r} has no [references] table: nothing says how its models were trained",
            "add one to its track.toml (see the purchase100 track)",
        )
    refs = replace(refs, **{k: v for k, v in (overrides or {}).items() if v is not None})
    train_config(refs, epsilon=sc.epsilon)
    reference_architecture(ctx.track, sc, refs)
    return refs


def check_inputs(sd) -> None:
    """Every input of a scenario read and checked before its references train: the population's size and every
    provided model's weights (read with ``weights_only``, fitted into the scenario's architecture), so a
    poisoned, truncated or mismatched file stops the run in seconds, naming it."""
    from toolkit.models import build_model, fit_weights, load_state_dict, model_file

    sd.check_population()
    arch, n_classes = sd.track.architecture_of(sd.scenario), sd.track.n_classes_of(sd.scenario)
    model = build_model(arch, n_classes)
    for phase in PHASES:
        for md in sd.models.get(phase, []):
            path = model_file(md.path)
            fit_weights(model, load_state_dict(path), path, arch)


def stage_references(
    ctx, *, n_models: int | None = None, scenarios=None, search: bool = False, overrides: dict | None = None
) -> list[str]:
    """``mia references``: train, check and register the references of each scenario (or those named)."""
    import time

    lines, opened = [], []
    for name in list(scenarios or ctx.track.scenario_names):  # every input checked before any reference trains
        refs = scenario_references(ctx, name, overrides)
        sc = ctx.track.scenario(name)
        reference_architecture(ctx.track, sc, refs)  # a model the trainer cannot make stops before any reading
        sd = ctx.open(sc)
        check_inputs(sd)
        opened.append((name, refs, sc, sd))
    for name, refs, sc, sd in opened:
        if search:
            refs, rows = match(ctx, sd, refs)
            for row in rows:
                lines.append(
                    f"  match {name}: epochs {row['epochs']}, lr {row['lr']:g}: distance {row['distance']:.3f}"
                )
            chosen = train_config(refs, epsilon=sc.epsilon)
            lines.append(f"  match {name}: chose epochs {chosen.epochs}, lr {chosen.lr:g}")
        n = n_models or refs.count
        start = time.perf_counter()
        local = train_references(sd, n, refs, jobs=ctx.jobs, scheduler=ctx.scheduler, progress=ctx.progress)
        elapsed = time.perf_counter() - start
        local.check = check(sd, _attach(ctx, sd, local))
        local.check["seconds_per_model"] = seconds_per_model(local)
        save_pointer(sd, local)
        per = local.check["seconds_per_model"]
        rate = getattr(local.plan, "in_rate", 0.5)
        lines.append(
            f"{name}: {n} local references in {local.folder} ({elapsed:.0f} s this run"
            + (f", {per:.1f} s per model" if per else "")
            + ")"
            + (f"; each challenge point IN for {rate:.0%} of them (the pool is over twice n)" if rate < 0.5 else "")
            + f"\n  {local.check['verdict']}"
        )
    return lines
