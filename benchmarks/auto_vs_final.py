"""How faithful is auto's validation? Every candidate's validation figure beside its final-phase figure.

For a local track whose final-phase answers are known (the demo, the MICO-shaped track), this runs
``mico.auto.select`` per scenario, then scores the final phase with every candidate (each family at
its variants × per-target transforms, and fusion) and prints, per scenario: auto's pick, its
validation objective with CI, and each candidate's final-phase strict TPR@10%FPR; then the
Spearman rank correlation between validation and final figures, and auto's mean against the best
single family at its defaults and the best hardness formula.

    python benchmarks/auto_vs_final.py --track demo --data data
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from toolkit.context import leaderboard_fpr
from toolkit.metrics import figure_ci, objective_value
from toolkit.mico.auto import candidate_scores, score_arrays_auto, select
from toolkit.mico.pipeline import Context
from toolkit.mico.scoring import known_solution
from toolkit.tracks import load_track


def final_figures(sel, arrays, local, y, fpr: float, seed: int = 0) -> dict[str, float]:
    """{candidate label: strict TPR@fpr on the pooled final phase}, scoring each recipe once."""
    scores = candidate_scores(sel, arrays, [row["label"] for row in sel.ranking], seed, local)
    return {label: objective_value(y, s, fpr)[1] for label, s in scores.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--track", default="demo")
    ap.add_argument("--data", default="data", type=Path)
    ap.add_argument("--json", type=Path, default=None, help="also write every figure to this file")
    args = ap.parse_args()
    track = load_track(args.track)
    fpr = leaderboard_fpr(track)
    ctx = Context(track=track, data_dir=args.data, progress=False)
    summary, all_val, all_fin = {}, [], []
    for sc in track.scenarios:
        sd = ctx.open(sc)
        paths = ctx.paths(sd)
        t0 = time.perf_counter()
        sel = select(sd, paths, fpr=fpr)
        took = time.perf_counter() - t0
        arrays = sd.phase_arrays("final", paths)
        local = sd.with_local(arrays, paths) if sd.local is not None else None  # our own references, if any
        y = known_solution(sd, sd.data_dir, "final").ravel()
        fin = final_figures(sel, arrays, local, y, fpr)
        final = objective_value(y, score_arrays_auto(sel, arrays, local=local), fpr)[1]
        y_val, s_val, g_val = sel.validation
        validation, ci = objective_value(y_val, s_val, fpr)[1], figure_ci(y_val, s_val, fpr, groups=g_val)
        print(
            f"\n{sc.name}: auto picked {sel.pick.label()} (rule {sel.pick.rule}) — validation {validation:.4f} "
            f"[{ci[0]:.4f}, {ci[1]:.4f}], final {final:.4f}  (selection {took:.1f} s)"
        )
        print(f"  {'candidate':<44}{'validation':>12}{'final':>10}")
        for r in sel.ranking:
            if r["label"] in fin:
                print(f"  {r['label']:<44}{r['tpr']:>12.4f}{fin[r['label']]:>10.4f}")
                all_val.append(r["tpr"])
                all_fin.append(fin[r["label"]])
        rho = spearmanr(
            [r["tpr"] for r in sel.ranking if r["label"] in fin],
            [fin[r["label"]] for r in sel.ranking if r["label"] in fin],
        ).statistic
        defaults = {lab: v for lab, v in fin.items() if " [" not in lab}
        hardness = max(v for lab, v in defaults.items() if lab.startswith("hardness"))
        summary[sc.name] = {
            "chosen": sel.pick.label(),
            "validation": validation,
            "ci": ci,
            "final": final,
            "best_single_final": max(defaults.values()),
            "best_single": max(defaults, key=defaults.get),
            "best_hardness_final": hardness,
            "spearman": rho,
            "seconds": took,
            "final_all": fin,
        }
        print(f"  Spearman(validation, final) over candidates: {rho:.3f}")
    auto = np.mean([s["final"] for s in summary.values()])
    best = np.mean([s["best_single_final"] for s in summary.values()])
    hard = np.mean([s["best_hardness_final"] for s in summary.values()])
    print(
        f"\nmean final TPR@{fpr:g}: auto {auto:.4f}, best single family per scenario (in hindsight) {best:.4f}, "
        f"best hardness formula (in hindsight) {hard:.4f}; auto/hardness = {auto / hard:.2f}"
    )
    print(f"Spearman over every scenario's candidates pooled: {spearmanr(all_val, all_fin).statistic:.3f}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2, default=float))


if __name__ == "__main__":
    main()
