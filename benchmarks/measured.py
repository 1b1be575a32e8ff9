"""What every section of ``benchmarks/results.py`` records, and the local archives and scripts it measures on.

A figure is ``{"value", "ci": [low, high], "command", "unit"}``: its 95% interval as the toolkit prints it
(an exact figure's is the value itself). A whole printed output that the docs show goes to ``OUTPUTS``
under its name. A full run builds the local archives under ``PLACES["data"]`` once (resumable; ``--data``);
a quick run builds them at test size in the run's own folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# A quick run's archive: the track at test size.
QUICK_BUILD = {"train_models": 8, "dev_models": 2, "final_models": 2, "epochs": 5, "dp_epochs": 2}
DATA = Path(".cache/results/data")  # a full run's local archives (built once, resumable; --data)
PLACES = {"data": DATA}
OUTPUTS: dict[str, str] = {}  # printed outputs the docs show whole, by name


def figure(value: float, ci=None, command: str = "", unit: str = "TPR") -> dict:
    """One measured figure and its interval (the value itself where it is exact)."""
    lo, hi = ci if ci is not None else (value, value)
    return {"value": float(value), "ci": [float(lo), float(hi)], "command": command, "unit": unit}


def archive(track_name: str, quick: bool, work: Path, sizes: dict | None = None) -> Path:
    """The data folder holding ``track_name``'s local archive, built where missing (quick: at test size,
    ``sizes`` overriding ``QUICK_BUILD``'s)."""
    from dataclasses import replace

    from toolkit.mico.build import build_challenge
    from toolkit.tracks import load_track

    track, data = load_track(track_name), (work / "quick_data" if quick else PLACES["data"])
    if quick:
        size = QUICK_BUILD | (sizes or {})
        epochs = {k: v for k, v in size.items() if k in ("epochs", "dp_epochs")}
        track = replace(track, build=replace(track.build, **epochs))
        build_challenge(track, data, progress=False, **{k: v for k, v in size.items() if k not in epochs})
    else:
        build_challenge(track, data, jobs=2, progress=False)
    return data


def script(name: str, args: list, work: Path, out_flag: str | None = "--out"):
    """Run ``benchmarks/<args[0]>`` with ``--out``: keep what it printed (``OUTPUTS[name]``), return its JSON
    (``out_flag=None``: a script that only prints; returns None)."""
    out = work / f"{name}.json"
    cmd = [sys.executable, str(HERE / args[0]), *map(str, args[1:]), *([out_flag, str(out)] if out_flag else [])]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE.parent)
    if done.returncode:
        raise SystemExit(f"Error: {name}: {' '.join(cmd[1:])} failed:\n{done.stderr[-2000:]}")
    OUTPUTS[name] = done.stdout.rstrip("\n")
    return json.loads(out.read_text()) if out_flag else None


def mia(args: list, runs: Path) -> str:
    """``mia ARGS`` as a user types it, its runs under ``runs`` (``MIA_RUNS_DIR``); returns what it printed."""
    cmd = [sys.executable, "-m", "toolkit.cli", *map(str, args)]
    env = os.environ | {"MIA_RUNS_DIR": str(runs)}
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE.parent, env=env)
    if done.returncode:
        raise SystemExit(f"Error: mia {' '.join(map(str, args))} failed:\n{done.stderr[-2000:]}")
    return done.stdout.rstrip("\n")


def slug(label: str) -> str:
    """A label as a figure key's part: ``rmia(offline=False)`` -> ``rmia_offline_False``."""
    import re

    return re.sub(r"\W+", "_", label).strip("_")


def regret_figures(name: str, summary: dict, command: str) -> dict:
    """``benchmarks/selection.py``'s summary as figures: each rule's mean and worst regret (where it has
    scenarios), the leave-one-archive-out choice's, and each scenario's final figure per rule and of the best
    candidate in hindsight (``hindsight``; exact: the benchmark's own scores, so no interval)."""
    import math

    out = {}
    for rule, stats in summary["rules"].items():
        for what in ("mean", "worst", "nodp_mean", "dp_mean", "final"):
            if math.isfinite(stats[what]):
                out[f"{name}.{rule}.{what}"] = figure(
                    stats[what], None, command, "regret" if what != "final" else "TPR"
                )
    out[f"{name}.loao.mean"] = figure(summary["loao_mean"], None, command, "regret")
    for key, o in summary["outcomes"].items():
        scenario = slug(key.split("/")[-1])
        out[f"{name}.{scenario}.hindsight"] = figure(o["best_any"], None, command)
        for rule, r in o["rules"].items():
            out[f"{name}.{scenario}.{rule}"] = figure(r["final"], None, command)
    return out
