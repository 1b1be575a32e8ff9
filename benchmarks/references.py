"""What local references buy: the final-phase figure of ``recipe = auto`` with N = 0, 32, 64, … of our own.

On a MICO-layout challenge whose answers are kept (a local build, e.g. ``purchase_shaped``), it
trains max(N) references per scenario in the track's ``[references]`` recipe (``mia references``,
resumable, prefix-stable: the first 32 of 128 are the 32), checks them against the provided
models, then for each N registers the first N and runs the attack stage as ``mia submit`` does.
It prints, per scenario and N, the pooled TPR at FPR < 10% (strict, the leaderboard's figure) on
the final and dev phases, auto's pick, and the measured training seconds per model.

    python benchmarks/references.py --track purchase_shaped --data data --counts 0,32,64,128 -j 2

Stage files go to ``runs/bench_references/`` (``MIA_RUNS_DIR``), so a user's own runs are untouched.
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
    p.add_argument("--data", type=Path, default=Path("data"))
    p.add_argument("--counts", default="0,32,64,128", help="comma-separated N (even)")
    p.add_argument("-s", "--scenario", action="append", help="only these scenarios")
    p.add_argument("-j", "--jobs", type=int, default=2)
    p.add_argument("--runs", type=Path, default=Path("runs/bench_references"))
    p.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    args = p.parse_args()
    os.environ["MIA_RUNS_DIR"] = str(args.runs)

    from toolkit.context import Context
    from toolkit.metrics import metric_key
    from toolkit.mico.pipeline import stage_attack
    from toolkit.mico.references import pointer_path, save_pointer, seconds_per_model, train_references
    from toolkit.mico.references_stage import check
    from toolkit.tracks import load_track

    track = load_track(args.track)
    names = args.scenario or list(track.scenario_names)
    track = replace(track, scenarios=tuple(track.scenario(n) for n in names))
    counts = sorted({int(c) for c in args.counts.split(",")})
    ctx = Context(track=track, data_dir=args.data, jobs=args.jobs, progress=False)
    key = metric_key(0.1)
    trained, rows = {}, []
    for sc in track.scenarios:
        sd = ctx.open(sc)
        start = time.perf_counter()
        local = train_references(sd, max(counts), track.references_of(sc), jobs=args.jobs, progress=False)
        sd.local = local
        local.check = check(sd, ctx.paths(sd))
        trained[sc.name] = (local, seconds_per_model(local), time.perf_counter() - start)
        print(f"{sc.name}: {max(counts)} references, {trained[sc.name][1] or float('nan'):.2f} s/model")
        print(f"  {local.check['verdict']}", flush=True)
    for n in counts:
        for sc in track.scenarios:
            local = trained[sc.name][0]
            pointer = pointer_path(track, sc)
            if n == 0:
                pointer.unlink(missing_ok=True)
            else:
                save_pointer(ctx.open(sc), replace(local, paths=local.paths[:n]))
        start = time.perf_counter()
        summary = stage_attack(ctx, baseline=False)
        elapsed = time.perf_counter() - start
        for name, meta in summary.items():
            m = meta["metrics"]["recipe"]
            auto = meta.get("auto", {})
            rows.append(
                {
                    "scenario": name,
                    "n": n,
                    "final": m["final"][key] if "final" in m else None,
                    "dev": m["dev"][key] if "dev" in m else None,
                    "final_ci": m["final"].get("ci95") if "final" in m else None,
                    "dev_ci": m["dev"].get("ci95") if "dev" in m else None,
                    "validation": m["validation"][key],
                    "picked": auto.get("picked"),
                    "attack_s": elapsed / len(summary),
                    "s_per_model": trained[name][1],
                }
            )
            r = rows[-1]
            print(
                f"N={n:>4} {name:<24} final {r['final']:.4f} dev {r['dev']:.4f} val {r['validation']:.4f}  "
                f"picked: {' + '.join(r['picked'] or [])}",
                flush=True,
            )
    print()
    print("| scenario | N | final TPR@10%FPR | dev | auto's pick | s/model |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        per = f"{r['s_per_model']:.2f}" if r["s_per_model"] and r["n"] else "–"
        pick = " + ".join(r["picked"] or [])
        print(f"| {r['scenario']} | {r['n']} | {r['final']:.4f} | {r['dev']:.4f} | {pick} | {per} |")
    for n in counts:
        vals = [r["final"] for r in rows if r["n"] == n]
        devs = [r["dev"] for r in rows if r["n"] == n]
        print(f"| mean | {n} | {sum(vals) / len(vals):.4f} | {sum(devs) / len(devs):.4f} | | |")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
