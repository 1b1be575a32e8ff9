"""The ResNet18 public/private track: shadows, outputs, leaderboard-aware validation, the choice, CSV.

One target, a public set whose membership is real for that target, a private set to score.
By default (``attack = "auto"``) shadow ResNet18s are trained within a time budget
(``tml.references``), every candidate attack (``tml.candidates``: reference attacks, supervised
stackers on the target's outputs, quantile regression, fusion) is scored out-of-fold on the
public set, and the track's decision rule (``choose.rules``; by default ``best``, the one ranked
first) picks what is submitted. A fixed recipe is submitted as it is.

The target's and the shadows' outputs are read once (``tml.outputs``); the shadows are the
``tml.references`` stage. Validation (``tml.validation``) is what the board cannot give:
out-of-fold figures on the public set with their intervals, the spread of the board's 30% slice,
and the submitted figure corrected for the choice.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from toolkit.choose.rules import combine, named_rule
from toolkit.data.tml import layout_of, load_task
from toolkit.io import atomic_write_bytes, atomic_write_text, sha256_file
from toolkit.references.check import shadow_check
from toolkit.tml.board import FPR
from toolkit.tml.candidates import candidates, recipe_candidate, score_candidate
from toolkit.tml.outputs import ARCH, TMLOutputs, collect_outputs, output_tasks
from toolkit.tml.package import normalise, run_manifest, write_submission_csv
from toolkit.tml.references import shadow_stage
from toolkit.tml.report import oof_npz, write_tml_report
from toolkit.tml.settings import TMLSettings
from toolkit.tml.validation import (
    AUTO,
    DEFAULT_RULE,
    oof_candidate,
    out_of_fold,
    rank_and_pick,
    simulate_leaderboard,
    stratified_folds,
    validate,
    with_board,
)
from toolkit.tracks import Recipe, Upload

__all__ = [
    "ARCH",
    "FPR",
    "TMLOutputs",
    "output_tasks",
    "collect_outputs",
    "AUTO",
    "score_rows",
    "stratified_folds",
    "oof_scores",
    "simulate_leaderboard",
    "validate",
    "make_submission",
    "submit_task",
]


def score_rows(
    attack: str, params: dict, outs: TMLOutputs, rows: np.ndarray, train_rows: np.ndarray, seed: int = 0
) -> np.ndarray:
    """Scores of ``rows``; a supervised attack is trained on the target's ``train_rows`` (pub)."""
    return score_candidate(recipe_candidate(Recipe(attack, params)), outs, rows, train_rows, seed)


def oof_scores(attack: str, params: dict, outs: TMLOutputs, k: int = 5, seed: int = 0) -> np.ndarray:
    """Out-of-fold scores on the public set: fold f is scored by an attack trained on the others."""
    folds = stratified_folds(outs.membership[: outs.n_pub], k, seed)
    return oof_candidate(recipe_candidate(Recipe(attack, params)), outs, folds, seed)


def make_submission(s: TMLSettings, *, log=None) -> dict:
    """Outputs → shadows → out-of-fold validation of the candidates → private scores → CSV + manifest.

    ``s.attack = "auto"`` ranks every candidate (``tml.candidates``) and submits what the decision rule in
    ``s.params`` (``rule``, default ``DEFAULT_RULE``: the first) picks (``tml.validation.rank_and_pick``); a fixed
    attack is submitted as it is, with ``s.compare`` validated beside it (reference attacks only with
    shadows). ``s.shadows`` None trains as many shadows as ``s.budget_s`` seconds hold (≤ ``s.max_shadows``),
    reusing the folder's; 0 trains none. ``s.match`` first searches epochs/lr for shadows like the target.
    Writes ``<s.out_dir>/<run>.csv``, ``<run>.manifest.json`` and ``<run>.scores.npz`` (``oof_npz``);
    returns the manifest (with ``csv`` and ``manifest`` paths). ``log(line)`` hears each stage's news.
    ``s.track`` gives the files' layout, the architecture and the CSV.
    Every input is read and checked (both datasets, the target against the track) before any shadow trains.
    """
    from toolkit.tml.target import check_target

    log = log or (lambda line: None)
    track, attack, seed, params = s.track, s.attack, s.seed, dict(s.params)
    if attack == AUTO:
        named_rule(params, DEFAULT_RULE, ignored=("model",))  # a wrong rule fails before any shadow trains
    task = load_task(s.data_dir, layout_of(track))
    target_line = check_target(task, track.architecture)
    log(target_line)
    clock, seconds = time.perf_counter(), {}

    def lap(name):
        nonlocal clock
        seconds[name] = time.perf_counter() - clock
        clock = time.perf_counter()

    def collect(paths, keep):
        return collect_outputs(
            task,
            paths,
            keep,
            views=s.views,
            cache_dir=s.cache_dir,
            jobs=s.jobs,
            progress=s.progress,
            architecture=track.architecture,
        )

    paths, keep, shadows = shadow_stage(task, s, collect)
    lap("shadows")
    outs = collect(paths, keep)
    lap("outputs")
    if paths:
        shadows["check"] = shadow_check(outs)
        log(f"shadows: {len(paths)} in {shadows['dir']}; {shadows['check']['verdict']}")
    elif "note" in shadows:
        log(f"shadows: none; {shadows['note']}")
    if attack == AUTO:
        cands = candidates(bool(paths), outs.target.shape[2])
    else:
        fixed = recipe_candidate(Recipe(attack, dict(s.params)))
        others = [recipe_candidate(Recipe(c)) for c in s.compare if c != attack and (paths or c in ("threshold",))]
        cands = [replace(fixed, label=attack)] + [replace(c, label=c.family) for c in others]
    pub_folds = stratified_folds(outs.membership[: outs.n_pub], s.folds, seed)
    oof = out_of_fold(cands, outs, pub_folds, seed)
    pub_y = outs.membership[: outs.n_pub]
    ranking, oof, figures, pick, corrected = rank_and_pick(cands, oof, pub_y, attack, params, seed, s.n_boot, s.n_sims)
    chosen = pick.label()
    lap("validation")
    priv = np.arange(outs.n_pub, len(outs.ids))
    by_label = {c.label: c for c in cands}
    picked = [score_candidate(by_label[label], outs, priv, np.arange(outs.n_pub), seed) for label in pick.labels]
    scores = normalise(combine(picked, None, pick.combine))
    lap("private scores")
    scores_npz = oof_npz(pub_y, oof)  # <run>.scores.npz, written after the CSV
    run = s.run_name or time.strftime("%Y%m%d-%H%M%S")
    id_column = (track.upload or Upload()).id_column
    csv_path = write_submission_csv(
        Path(s.out_dir) / f"{run}.csv", outs.ids[priv], scores, task.priv.ids, id_column=id_column
    )
    manifest = run_manifest(task, s, shadows, figures)
    scores_path = csv_path.with_suffix(".scores.npz")
    atomic_write_bytes(scores_path, scores_npz)
    manifest.update(
        target=target_line,
        chosen=chosen,
        ranking=ranking,
        estimate=figures[chosen],
        corrected=with_board(corrected, figures[chosen]),
        seconds=seconds,
        csv=str(csv_path),
        csv_sha256=sha256_file(csv_path),
        scores=str(scores_path),
    )
    man_path = csv_path.with_suffix(".manifest.json")
    atomic_write_text(man_path, json.dumps(manifest, indent=2, default=_json_default) + "\n")
    return {**manifest, "manifest": str(man_path)}


def submit_task(settings: TMLSettings, *, log=None) -> dict:
    """The task's pipeline (``make_submission``) with ``settings``, then the run's report; returns the manifest.

    What ``mia submit`` runs for a tml track. The report goes beside the CSV (``toolkit.tml.report``); its
    path is the manifest's ``report``.
    ``log(line)`` hears each stage's news.
    """
    start = time.perf_counter()
    manifest = make_submission(settings, log=log)
    timings = {**manifest["seconds"], "submit": time.perf_counter() - start}
    return {**manifest, "report": str(write_tml_report(settings.track, manifest, timings))}


def _json_default(obj):
    return obj.item() if isinstance(obj, (np.floating, np.integer)) else str(obj)
