"""The ``mico`` kind: MICO-layout tracks (cifar10, purchase100, sst2, ddp, demo and the user's own).

Each stage takes the track and the user's options and returns the text its command prints; the
work is in ``pipeline``.
"""

from __future__ import annotations

from pathlib import Path

from toolkit.errors import ConfigError
from toolkit.kinds import StageOptions
from toolkit.mico.pipeline import (
    Context,
    format_table,
    stage_attack,
    stage_challenge,
    stage_check,
    stage_outputs,
    stage_package,
    submit,
)
from toolkit.tracks import Track

__all__ = ["LEADERBOARD_FPR", "STAGES", "context"]

LEADERBOARD_FPR = 0.1  # MICO ranks by TPR at FPR strictly below 10%, pooled over a phase's targets


def context(track: Track, opts: StageOptions) -> Context:
    """The pipeline's ``Context`` for ``track`` with the command line's options."""
    return Context(
        track, Path(opts.data_dir), opts.dataset_dir, opts.cache_dir, opts.jobs, tuple(opts.views), opts.scheduler
    )


def _sizes(opts: StageOptions) -> dict:
    return {k: opts.extra.get(k) for k in ("train_models", "dev_models", "final_models", "seed") if k in opts.extra}


def challenge(track: Track, opts: StageOptions) -> str:
    ctx = context(track, opts)
    root = stage_challenge(ctx, **_sizes(opts))
    if root is None:
        raise ConfigError(f"track {track.name!r} comes from the organisers' files; nothing to build")
    return f"challenge ready: {root}  ({ctx.timings['challenge']:.1f} s)"


def outputs(track: Track, opts: StageOptions) -> str:
    ctx = context(track, opts)
    done = stage_outputs(ctx)
    n = sum(len(v) for v in done.values())
    return f"outputs cached for {n} models over {len(done)} scenarios ({ctx.timings['outputs']:.1f} s)"


def attack(track: Track, opts: StageOptions) -> str:
    return format_table(stage_attack(context(track, opts)))


def package(track: Track, opts: StageOptions) -> str:
    method = "baseline" if opts.extra.get("baseline") else "recipe"
    return str(stage_package(context(track, opts), method=method))


def check(track: Track, opts: StageOptions) -> str:
    zip_path = Path(opts.extra["zip_path"])
    report = stage_check(context(track, opts), zip_path, format_only=bool(opts.extra.get("format_only")))
    lines = [f"{zip_path}: format OK"]
    for scenario, phases in report.items():
        for phase, m in phases.items():
            lines.append(f"  {scenario:<18}{phase:<7}" + "  ".join(f"{k}={v:.4f}" for k, v in m.items()))
    return "\n".join(lines)


def run_submit(track: Track, opts: StageOptions) -> str:
    """Every stage (``pipeline.submit``), then the report beside the zip; the metrics, timings and both paths."""
    from toolkit.report.mico import write_submission_report

    ctx = context(track, opts)
    zip_path, _, table = submit(ctx, **{k: v for k, v in _sizes(opts).items() if k != "seed"})
    lines = [
        table,
        "",
        "stage seconds: " + ", ".join(f"{k}={v:.1f}" for k, v in ctx.timings.items()),
        f"submission: {zip_path}",
    ]
    return "\n".join(lines + [f"report: {write_submission_report(ctx, zip_path)}"])


STAGES = {
    "challenge": challenge,
    "outputs": outputs,
    "attack": attack,
    "package": package,
    "check": check,
    "submit": run_submit,
}
