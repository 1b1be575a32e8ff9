"""A challenge whose models were trained in another recipe than the track says: does the check see it, and
does ``--match`` bring the figure back?

Builds a MICO-layout challenge of one scenario of ``--track`` with its ``[build]`` epochs replaced by
``--build-epochs`` (the organisers' "other recipe"), then, reading it with the unchanged track (whose
reference recipe still says the track's epochs), measures the final-phase TPR at FPR < 10% (strict)
of ``recipe = auto`` with: no local references; N references in the track's recipe (the verdict
should say they differ); N references in the recipe ``--match`` chose; N references in the recipe
the challenge was really built with (the oracle, known here only because we built it). Each arm
is scored twice: by ``recipe = auto`` (which ranks every reference attack with and without the local
references on validation, so it may leave bad ones out) and by one fixed reference attack, LiRA
with per-point variances, which always uses them (what a wrong recipe costs an attack that trusts it).

    python benchmarks/recipe_mismatch.py --track purchase_shaped -s purchase_shaped_inf --build-epochs 12 -n 32

Everything goes under ``--work`` (challenge, runs, cache), so a user's own runs are untouched.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--track", default="purchase_shaped")
    p.add_argument("-s", "--scenario", default="purchase_shaped_inf")
    p.add_argument("--build-epochs", type=int, default=12)
    p.add_argument("-n", type=int, default=32, help="local references per arm (even)")
    p.add_argument("--models", default=None, help="train,dev,final models to build (default: the track's [build])")
    p.add_argument("-j", "--jobs", type=int, default=2)
    p.add_argument("--work", type=Path, default=Path("runs/recipe_mismatch"))
    p.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    args = p.parse_args()
    os.environ["MIA_RUNS_DIR"] = str(args.work / "runs")
    os.environ.setdefault("MIA_CACHE_DIR", str(args.work / "cache"))

    from toolkit.context import Context
    from toolkit.metrics import metric_key
    from toolkit.mico.build import build_challenge
    from toolkit.mico.pipeline import stage_attack
    from toolkit.mico.references import pointer_path, save_pointer, train_references
    from toolkit.mico.references_stage import check, match
    from toolkit.tracks import Recipe, load_track

    full = load_track(args.track)
    track = replace(full, scenarios=(full.scenario(args.scenario),))
    sc = track.scenarios[0]
    data = args.work / "data"
    built = replace(track, build=replace(track.build, epochs=args.build_epochs))
    if args.models:
        n_train, n_dev, n_final = (int(v) for v in args.models.split(","))
        built = replace(built, build=replace(built.build, train_models=n_train, dev_models=n_dev, final_models=n_final))
    start = time.perf_counter()
    build_challenge(built, data, jobs=args.jobs, progress=False)
    print(
        f"challenge built with epochs {args.build_epochs} in {time.perf_counter() - start:.0f} s "
        f"(the track's recipe says {track.references_of(sc).epochs})",
        flush=True,
    )
    ctx = Context(track=track, data_dir=data, jobs=args.jobs, progress=False)
    lira = Recipe.from_dict({"attack": "lira", "fix_variance": False}, "LiRA arm")
    fixed = replace(ctx, track=replace(track, scenarios=(replace(sc, recipe=lira),)))
    key = metric_key(0.1)
    refs = track.references_of(sc)
    rows = []

    def arm(name: str, recipe) -> None:
        sd = ctx.open(sc)
        verdict = "–"
        if recipe is None:
            pointer_path(track, sc).unlink(missing_ok=True)
        else:
            local = train_references(sd, args.n, recipe, jobs=args.jobs, progress=False)
            sd.local = local
            local.check = check(sd, ctx.paths(sd))
            save_pointer(sd, local)
            verdict = local.check["verdict"]
        meta = stage_attack(ctx, baseline=False)[sc.name]
        m = meta["metrics"]["recipe"]
        fm = stage_attack(fixed, baseline=False)[sc.name]["metrics"]["recipe"]
        rows.append(
            {
                "arm": name,
                "epochs": None if recipe is None else recipe.epochs,
                "lr": None if recipe is None else recipe.lr,
                "final": m["final"][key],
                "dev": m["dev"][key],
                "picked": meta.get("auto", {}).get("picked"),
                "lira_final": fm["final"][key],
                "lira_dev": fm["dev"][key],
                "final_ci": m["final"].get("ci95"),
                "lira_final_ci": fm["final"].get("ci95"),
                "verdict": verdict,
            }
        )
        r = rows[-1]
        print(
            f"{name:<28} auto: final {r['final']:.4f} dev {r['dev']:.4f}  picked: {' + '.join(r['picked'] or [])}; "
            f"LiRA: final {r['lira_final']:.4f} dev {r['lira_dev']:.4f}"
        )
        print(f"  {verdict}", flush=True)

    arm("no local references", None)
    arm(f"track's recipe ({refs.epochs} epochs)", refs)
    chosen, grid = match(ctx, ctx.open(sc), refs)
    for g in grid:
        print(f"  match: epochs {g['epochs']}, lr {g['lr']:g}: distance {g['distance']:.3f}")
    arm(f"--match ({chosen.epochs} epochs, lr {chosen.lr:g})", chosen)
    arm(f"built recipe ({args.build_epochs} epochs)", replace(refs, epochs=args.build_epochs))
    print()
    print(f"| references (N = {args.n}) | epochs | lr | auto: final | dev | LiRA: final | dev | auto's pick |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['arm']} | {r['epochs'] or '–'} | {r['lr'] or '–'} | {r['final']:.4f} | {r['dev']:.4f} "
            f"| {r['lira_final']:.4f} | {r['lira_dev']:.4f} | {' + '.join(r['picked'] or [])} |"
        )
    if args.out:
        args.out.write_text(json.dumps({"grid": grid, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
