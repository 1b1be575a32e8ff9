"""The ``mico`` kind: MICO-layout tracks (cifar10, purchase100, sst2, ddp, demo and the user's own).

Each command takes the run ``Context`` and its own options and returns the text it prints; the
work is in ``pipeline`` (the stages), ``toolkit.studies.evaluate`` and ``toolkit.tuning``.
"""

from __future__ import annotations

from pathlib import Path

from toolkit.context import Context, reads
from toolkit.errors import ConfigError
from toolkit.mico.pipeline import (
    format_table,
    stage_attack,
    stage_challenge,
    stage_check,
    stage_outputs,
    stage_package,
    submit,
)

__all__ = ["COMMANDS"]

_WHERE = ("data_dir", "dataset_dir")  # where the challenge folders and the public datasets are
_RUN = (*_WHERE, "cache_dir", "jobs", "views", "scheduler", "progress")  # and how its models run


def _sizes(train_models=None, dev_models=None, final_models=None) -> dict:
    given = dict(train_models=train_models, dev_models=dev_models, final_models=final_models)
    return {k: v for k, v in given.items() if v is not None}


@reads("data_dir", "jobs", "progress")
def challenge(ctx: Context, *, train_models=None, dev_models=None, final_models=None, build_seed=None) -> str:
    root = stage_challenge(ctx, **_sizes(train_models, dev_models, final_models), seed=build_seed)
    if root is None:
        raise ConfigError(f"track {ctx.track.name!r} comes from the organisers' files; nothing to build")
    return f"challenge ready: {root}  ({ctx.timings['challenge']:.1f} s)"


@reads(*_RUN)
def outputs(ctx: Context) -> str:
    done = stage_outputs(ctx)
    n = sum(len(v) for v in done.values())
    return f"outputs cached for {n} models over {len(done)} scenarios ({ctx.timings['outputs']:.1f} s)"


@reads(*_RUN)
def attack(ctx: Context) -> str:
    return format_table(stage_attack(ctx))


@reads(*_WHERE)
def package(ctx: Context, *, baseline: bool = False) -> str:
    return str(stage_package(ctx, method="baseline" if baseline else "recipe"))


@reads(*_WHERE)
def check(ctx: Context, *, zip_path: Path, format_only: bool = False) -> str:
    report = stage_check(ctx, Path(zip_path), format_only=format_only)
    lines = [f"{zip_path}: format OK"]
    for scenario, phases in report.items():
        for phase, m in phases.items():
            lines.append(f"  {scenario:<18}{phase:<7}" + "  ".join(f"{k}={v:.4f}" for k, v in m.items()))
    return "\n".join(lines)


@reads(*_RUN)
def run_submit(ctx: Context, *, train_models=None, dev_models=None, final_models=None) -> str:
    """Every stage (``pipeline.submit``), then the report beside the zip; the metrics, timings and both paths."""
    from toolkit.mico.report import write_submission_report

    zip_path, _, table = submit(ctx, **_sizes(train_models, dev_models, final_models))
    lines = [
        table,
        "",
        "stage seconds: " + ", ".join(f"{k}={v:.1f}" for k, v in ctx.timings.items()),
        f"submission: {zip_path}",
    ]
    return "\n".join(lines + [f"report: {write_submission_report(ctx, zip_path)}"])


@reads(*_WHERE, "cache_dir", "jobs", "progress", "seed")
def evaluate(
    ctx: Context, *, attacks=None, scenarios=None, folds: int = 5, pooling: str = "rank", out_dir=Path("runs")
):
    """Every attack on the validation folds of each scenario, as one table (``studies.evaluate``)."""
    from toolkit.studies.evaluate import evaluate_context

    table = evaluate_context(ctx, attacks=attacks, scenarios=scenarios, n_folds=folds, pooling=pooling, out_dir=out_dir)
    shown = table.drop(columns=["error"]) if not table["error"].any() else table
    return "\n".join(
        [
            shown.to_string(index=False, float_format=lambda v: f"{v:.4f}"),
            f"written: {Path(out_dir) / ctx.track.name / 'evaluate.csv'}",
        ]
    )


@reads(*_WHERE, "cache_dir", "jobs", "views", "progress", "seed")
def tune(
    ctx: Context,
    *,
    scenarios=None,
    trials: int = 30,
    timeout: float | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    attacks=None,
    heldout_fraction: float = 0.2,
    folds: int = 4,
    report: bool = True,
    say=print,
) -> str:
    """Optuna studies of each scenario's recipe (``toolkit.tuning``); ``say`` prints as it goes."""
    from toolkit.tuning.space import parse_attacks
    from toolkit.tuning.study import tune as tune_scenarios

    tune_scenarios(
        ctx,
        list(scenarios or ()) or None,
        say=say,
        trials=trials,
        timeout=timeout,
        storage=storage,
        study_name=study_name,
        attacks=parse_attacks(attacks),
        jobs=ctx.jobs,
        heldout_fraction=heldout_fraction,
        n_folds=folds,
        report=report,
    )
    return ""


@reads(*_RUN)
def references(
    ctx: Context,
    *,
    n_models=None,
    scenarios=None,
    match: bool = False,
    matched: bool = False,
    epochs=None,
    lr=None,
    len_training=None,
) -> str:
    """Reference models of our own for each scenario (``mico.references``), checked and registered."""
    given = {"epochs": epochs, "lr": lr, "len_training": len_training}
    if matched:
        from toolkit.mico.matched import stage_matched

        return "\n".join(stage_matched(ctx, n_models=n_models, scenarios=scenarios, overrides=given))
    from toolkit.mico.references_stage import stage_references

    return "\n".join(stage_references(ctx, n_models=n_models, scenarios=scenarios, search=match, overrides=given))


COMMANDS = {
    "references": references,
    "challenge": challenge,
    "outputs": outputs,
    "attack": attack,
    "package": package,
    "check": check,
    "submit": run_submit,
    "evaluate": evaluate,
    "tune": tune,
}
