"""``make results``' sections on the ResNet18 task (kind ``tml``): practice tasks of both editions, built here.

``resnet18`` and ``tml26``: a practice task of each edition (``benchmarks/tml_task.py``'s builder), the default
submitted and scored on the hidden answers; ``tml26_cost``: what the 2026 default costs at the organisers' size,
14,000 + 14,000; ``selection_tml``: each decision rule's regret on practice tasks of both editions
(``benchmarks/selection.py --kind tml``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from measured import HERE, PLACES, figure, regret_figures, script

FULL = {
    "resnet18": {"n": 2000, "epochs": None, "budget_min": 12.0},
    "tml26": {"n": 1000, "epochs": None, "budget_min": 12.0},
    "tml26_cost": {"n": 14000, "epochs": 1, "budget_min": None},  # the organisers' size: the default's cost
    "selection_tml": ["--tasks", 2, "--n", 500, "--shadows", 4],
}
QUICK = {
    "resnet18": {"n": 120, "epochs": 2, "budget_min": 0.0},
    "tml26": {"n": 60, "epochs": 1, "budget_min": 0.0},
    "tml26_cost": {"n": 100, "epochs": 1, "budget_min": 0.0},
    "selection_tml": ["--tiny", "--tasks", 1, "--n", 80, "--shadows", 2],
}


def _practice(track_name: str, quick: bool, work: Path) -> dict:
    """A practice task of ``track_name``'s edition: the default submitted, scored on the hidden answers."""
    sys.path.insert(0, str(HERE))
    from tml_task import _epochs, hidden_figures

    from toolkit.context import Context
    from toolkit.kinds.tml import submit_task
    from toolkit.tml.build import build_task
    from toolkit.tml.settings import TMLSettings
    from toolkit.tracks import load_track

    size = (QUICK if quick else FULL)[track_name]
    track = load_track(track_name)
    folder, answers = work / track_name / "task", work / track_name / "answers.npz"
    cfg = {"train_cfg": _epochs(track, size["epochs"], 0)} if size["epochs"] else {}
    start = time.perf_counter()
    acc = build_task(folder, answers, track=track, n_pub=size["n"], n_priv=size["n"], **cfg)
    built = time.perf_counter() - start
    start = time.perf_counter()
    ctx = Context(track=track, data_dir=folder, cache_dir=work / "cache", progress=False)
    man = submit_task(TMLSettings.from_context(
        ctx, out_dir=work / track_name / "out", budget_min=size["budget_min"], run_name="default",
        shadow_dir=work / track_name / "shadows",
    ))  # fmt: skip
    took = time.perf_counter() - start
    hidden = hidden_figures(Path(man["csv"]), answers, track, folder)
    bare = submit_task(
        TMLSettings.from_context(ctx, out_dir=work / track_name / "out", shadows=0, run_name="no_shadows")
    )  # fmt: skip  # what a full-size task on a CPU gets: no pair of shadows fits its budget
    no_shadows = hidden_figures(Path(bare["csv"]), answers, track)["submitted"]
    cmd = f"mia submit --track {track_name} --data <practice task, {size['n']:,} + {size['n']:,}>"
    c, loss = man["corrected"], hidden["loss threshold"]
    return {
        f"{track_name}.default.hidden": figure(hidden["submitted"]["value"], hidden["submitted"]["ci"], cmd),
        f"{track_name}.default.auc": figure(hidden["submitted"]["auc"], None, cmd, "AUC"),
        f"{track_name}.threshold.hidden": figure(loss["value"], loss["ci"], cmd),
        f"{track_name}.no_shadows.hidden": figure(no_shadows["value"], no_shadows["ci"], f"{cmd} --shadows 0"),
        f"{track_name}.default.validation": figure(c["raw"], man["estimate"]["tpr_ci95"], cmd),
        f"{track_name}.default.corrected": figure(c["estimate"], c["ci"], cmd),
        f"{track_name}.shadows": figure(man["shadows"]["n"], None, cmd, "models"),
        f"{track_name}.target.test_acc": figure(acc["test_acc"], None, cmd, "accuracy"),
        f"{track_name}.minutes": figure((built + took) / 60, (took / 60, (built + took) / 60), cmd, "minutes"),
    }


def resnet18(quick: bool, work: Path) -> dict:
    return _practice("resnet18", quick, work)


def tml26(quick: bool, work: Path) -> dict:
    return _practice("tml26", quick, work)


def tml26_cost(quick: bool, work: Path) -> dict:
    """What ``mia submit --track tml26`` costs on a task of the organisers' size (14,000 + 14,000) on this
    machine, with nothing but the data folder given: minutes of the submission (the task's build is not
    counted; its target trains one epoch, as only the cost is measured), and the shadows that fit."""
    from toolkit.context import Context
    from toolkit.kinds.tml import submit_task
    from toolkit.tml.build import build_task
    from toolkit.tml.settings import TMLSettings
    from toolkit.tracks import load_track

    sys.path.insert(0, str(HERE))
    from tml_task import _epochs

    size = (QUICK if quick else FULL)["tml26_cost"]
    track = load_track("tml26")
    folder = work / "tml26_cost" / "task"
    cfg = _epochs(track, size["epochs"], 0)
    build_task(
        folder, work / "tml26_cost" / "answers.npz", track=track, n_pub=size["n"], n_priv=size["n"], train_cfg=cfg
    )
    start = time.perf_counter()
    ctx = Context(track=track, data_dir=folder, cache_dir=work / "cache", progress=False)
    man = submit_task(
        TMLSettings.from_context(ctx, out_dir=work / "tml26_cost" / "out", budget_min=size["budget_min"])
    )  # fmt: skip
    minutes = (time.perf_counter() - start) / 60
    cmd = f"mia submit --track tml26 --data <task, {size['n']:,} + {size['n']:,}>"
    return {
        "tml26_cost.minutes": figure(minutes, None, cmd, "minutes"),
        "tml26_cost.shadows": figure(man["shadows"]["n"], None, cmd, "models"),
    }


def selection_tml(quick: bool, work: Path) -> dict:
    """Each decision rule's regret on practice tasks of both editions (hidden private answers, TPR@5%FPR)."""
    args = ["--kind", "tml", *(QUICK if quick else FULL)["selection_tml"]]
    data = work / "tml_tasks" if quick else PLACES["data"] / "tml_tasks"
    got = script("selection_tml", ["selection.py", *args, "--data", data, "--runs", work / "selection"], work)
    return regret_figures("selection_tml", got, "python benchmarks/selection.py " + " ".join(map(str, args)))


SECTIONS = {
    "resnet18": resnet18,
    "tml26": tml26,
    "tml26_cost": tml26_cost,
    "selection_tml": selection_tml,
}
