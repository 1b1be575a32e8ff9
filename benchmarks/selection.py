"""Which decision rule should ``recipe = "auto"`` use? Each rule's regret over many local archives.

Eight local archives in MICO's layout, three scenarios each (no DP, DP-SGD ε = 10, ε = 4): the
``purchase_shaped`` track and three more populations of the same generator (other seeds), one at
another n/N (0.5 instead of 0.75), and the ``demo`` with three build seeds. Every archive keeps its
dev/final answers, so for every scenario the benchmark knows each candidate's final-phase figure.

Per scenario it scores every candidate of ``recipe = "auto"`` on the validation split (train models
as targets, the others as references) and on the final phase (targets = final models, references =
every train model), and stores both score matrices (``runs/selection/<scenario>.npz``). Then each
decision rule of ``toolkit.mico.rules`` picks from the validation scores alone, and its
final-phase strict TPR@10%FPR is compared with the best candidate's in hindsight: the regret.
Mean and worst regret are printed per rule, split into no-DP and DP scenarios, and the rule with
the lowest mean regret is also chosen leave-one-archive-out (the rule picked on the other archives,
scored on the held-out one), which is the honest estimate of choosing a rule this way.

    python benchmarks/selection.py --data data -j 2          # build what is missing, score, print
    python benchmarks/selection.py --data data --only-build  # just the archives (resumable)
    python benchmarks/selection.py --data data --rescore     # score again (e.g. after new candidates)

Everything is cached: the archives (the builder resumes), the models' outputs (content-addressed)
and the score matrices (keyed by the candidate list); a re-run only applies the rules.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from toolkit.context import leaderboard_fpr
from toolkit.mico.pipeline import Context
from toolkit.tracks import Track, load_track

RUNS = Path("runs/selection")


def _variant(base: Track, name: str, *, dataset: str | None = None, seed: int, len_training: int | None = None):
    """``base`` as another archive: its own task and scenario names, build seed, population and n."""
    short = name.replace("purchase_shaped", "ps")
    scenarios = tuple(replace(sc, name=sc.name.replace(base.name, short)) for sc in base.scenarios)
    return replace(
        base,
        name=name,
        task=name,
        dataset=dataset or base.dataset,
        len_training=len_training or base.len_training,
        scenarios=scenarios,
        build=replace(base.build, seed=seed),
    )


def archives() -> list[Track]:
    """The benchmark's archives: the two local tracks as they are, then the same shapes on other draws."""
    ps, demo = load_track("purchase_shaped"), load_track("demo")
    return [
        ps,
        _variant(ps, "purchase_shaped_seed1", dataset="purchase_shaped_seed1", seed=1),
        _variant(ps, "purchase_shaped_seed2", dataset="purchase_shaped_seed2", seed=2),
        _variant(ps, "purchase_shaped_seed3", dataset="purchase_shaped_seed3", seed=3),
        _variant(ps, "purchase_shaped_half", dataset="purchase_shaped_seed4", seed=4, len_training=10_000),
        demo,
        _variant(demo, "demo_seed7", seed=7),
        _variant(demo, "demo_seed11", seed=11),
    ]


def build_all(tracks: list[Track], data: Path, jobs: int) -> None:
    from toolkit.mico.builder import build_challenge

    for track in tracks:
        t0 = time.perf_counter()
        build_challenge(track, data, jobs=jobs, progress=True)
        print(f"built {track.name} in {time.perf_counter() - t0:.0f} s", flush=True)


def candidate_list() -> list[str]:
    """The labels auto ranks today (recipes × transforms, then the stackers): the score cache's key."""
    from toolkit.attacks.variants import default_recipes
    from toolkit.mico.auto import Candidate
    from toolkit.mico.calibration import TRANSFORMS
    from toolkit.mico.rules import FUSION, FUSION_LOWFPR

    labels = [Candidate(r, t).label() for r in default_recipes() for t in TRANSFORMS]
    return sorted(labels + [FUSION, FUSION_LOWFPR])


def score_scenario(track: Track, sc, data: Path, jobs: int, out: Path) -> None:
    """Every candidate's validation and final-phase scores of one scenario, saved to ``out`` (.npz)."""
    from toolkit.io import atomic_file
    from toolkit.mico.auto import candidate_scores, select
    from toolkit.mico.scoring import known_solution

    ctx = Context(track=track, data_dir=data, jobs=jobs, progress=False)
    sd = ctx.open(sc)
    paths = ctx.paths(sd)
    t0 = time.perf_counter()
    sel = select(sd, paths, fpr=leaderboard_fpr(track), rule="best")
    took = time.perf_counter() - t0
    t = sel.table
    arrays = sd.phase_arrays("final", paths)
    final = candidate_scores(sel, arrays, t.labels)
    arrays_out = dict(
        labels=np.array(t.labels),
        families=np.array(t.families),
        recipes=np.array(t.recipes),
        simplicity=np.array(t.simplicity),
        scores=t.scores,
        y=t.y,
        groups=t.groups,
        objective=t.objective,
        ci=t.ci,
        dp=np.array(t.dp),
        fpr=np.array(t.fpr),
        final=np.stack([final[label] for label in t.labels]),
        final_y=known_solution(sd, data, "final").ravel(),
        final_groups=arrays.groups,
        key=np.array(json.dumps(candidate_list())),
        seconds=np.array(took),
    )
    with atomic_file(out) as f:
        np.savez(f, **arrays_out)


def load_record(path: Path) -> dict:
    from toolkit.mico.rules import Table

    z = np.load(path)
    table = Table(
        labels=tuple(str(v) for v in z["labels"]),
        families=tuple(str(v) for v in z["families"]),
        recipes=tuple(str(v) for v in z["recipes"]),
        simplicity=tuple(tuple(int(x) for x in v) for v in z["simplicity"]),
        scores=z["scores"],
        y=z["y"],
        groups=z["groups"],
        objective=z["objective"],
        ci=z["ci"],
        fpr=float(z["fpr"]),
        dp=bool(z["dp"]),
    )
    return {
        "table": table,
        "final": z["final"],
        "y": z["final_y"],
        "groups": z["final_groups"],
        "seconds": float(z["seconds"]),
        "key": str(z["key"]),
    }


def final_tpr(rec: dict, scores: np.ndarray) -> float:
    from toolkit.metrics import objective_value

    return objective_value(rec["y"], scores, rec["table"].fpr)[1]


def rule_outcomes(records: dict, rules: list[str]) -> dict:
    """{(archive, scenario): {rule: (pick, final TPR)}, plus the best in hindsight}: priors leave the archive out."""
    from toolkit.mico.rules import apply_rule, combine, fit_prior

    out = {}
    for (arch, name), rec in records.items():
        t = rec["table"]
        finals = {label: final_tpr(rec, rec["final"][i]) for i, label in enumerate(t.labels)}
        prior = fit_prior([r["table"] for (a, _), r in records.items() if a != arch])
        row = {
            "best_any": max(finals.values()),
            "best_single": max(v for k, v in finals.items() if " [" not in k),
            "best_single_label": max((k for k in finals if " [" not in k), key=finals.get),
            "dp": t.dp,
            "rules": {},
        }
        for rule in rules:
            pick = apply_rule(rule, t, prior=prior)
            s = combine([rec["final"][t.index(label)] for label in pick.labels], rec["groups"], pick.combine)
            row["rules"][rule] = {"pick": " + ".join(pick.labels), "final": final_tpr(rec, s)}
        out[(arch, name)] = row
    return out


def regret_table(outcomes: dict, rules: list[str]) -> tuple[list[str], dict]:
    """Printed lines: each rule's mean / worst regret (no DP, DP, all), and the leave-one-archive-out choice."""

    def regrets(rule, keep):
        return [o["best_any"] - o["rules"][rule]["final"] for k, o in outcomes.items() if keep(k, o)]

    lines = [
        f"{'rule':<16}{'no-DP mean':>11}{'worst':>8}{'DP mean':>9}{'worst':>8}{'all mean':>10}{'worst':>8}"
        f"{'mean final':>12}"
    ]
    stats = {}
    for rule in rules:
        nd = regrets(rule, lambda k, o: not o["dp"])
        dp = regrets(rule, lambda k, o: o["dp"])
        al = nd + dp
        fin = np.mean([o["rules"][rule]["final"] for o in outcomes.values()])
        stats[rule] = {
            "nodp_mean": np.mean(nd),
            "nodp_worst": max(nd),
            "dp_mean": np.mean(dp),
            "dp_worst": max(dp),
            "mean": np.mean(al),
            "worst": max(al),
            "final": fin,
        }
        lines.append(
            f"{rule:<16}{np.mean(nd):>11.4f}{max(nd):>8.4f}{np.mean(dp):>9.4f}{max(dp):>8.4f}"
            f"{np.mean(al):>10.4f}{max(al):>8.4f}{fin:>12.4f}"
        )
    archives_ = sorted({a for a, _ in outcomes})
    loao, chosen_by = [], {}
    for held in archives_:
        others = {k: o for k, o in outcomes.items() if k[0] != held}
        best_rule = min(rules, key=lambda r: np.mean([o["best_any"] - o["rules"][r]["final"] for o in others.values()]))
        chosen_by[held] = best_rule
        loao += [o["best_any"] - o["rules"][best_rule]["final"] for k, o in outcomes.items() if k[0] == held]
    winner = min(rules, key=lambda r: stats[r]["mean"])
    lines.append(
        f"{'LOAO choice':<16}{'':>11}{'':>8}{'':>9}{'':>8}{np.mean(loao):>10.4f}{max(loao):>8.4f}"
        f"   (rule chosen on the other archives: {', '.join(f'{a}: {r}' for a, r in chosen_by.items())})"
    )
    lines.append(f"lowest mean regret over every archive: {winner}")
    return lines, {
        "rules": stats,
        "loao_mean": float(np.mean(loao)),
        "loao_worst": float(max(loao)),
        "loao_choices": chosen_by,
        "winner": winner,
    }


def main() -> None:
    from toolkit.mico.rules import RULES, fit_prior

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="data", type=Path)
    ap.add_argument("-j", "--jobs", default=2, type=int)
    ap.add_argument("--only-build", action="store_true")
    ap.add_argument("--rescore", action="store_true", help="score every scenario again")
    ap.add_argument(
        "--write-prior", action="store_true", help="write the family prior of rule 'shrunk' from every archive"
    )
    args = ap.parse_args()
    t_start = time.perf_counter()
    tracks = archives()
    build_all(tracks, args.data, args.jobs)
    if args.only_build:
        return
    RUNS.mkdir(parents=True, exist_ok=True)
    key = json.dumps(candidate_list())
    records = {}
    for track in tracks:
        for sc in track.scenarios:
            path = RUNS / f"{sc.name}.npz"
            if args.rescore or not path.is_file() or load_record(path)["key"] != key:
                score_scenario(track, sc, args.data, args.jobs, path)
            records[(track.name, sc.name)] = load_record(path)
            print(f"scored {sc.name} ({records[(track.name, sc.name)]['seconds']:.0f} s selection)", flush=True)
    rules = list(RULES)
    outcomes = rule_outcomes(records, rules)
    print("\nper scenario, final-phase strict TPR@10%FPR (best candidate in hindsight, then each rule):")
    print(f"{'scenario':<24}{'best':>7}{'single':>8}  " + "".join(f"{r:>15}" for r in rules))
    for (_, name), o in outcomes.items():
        print(
            f"{name:<24}{o['best_any']:>7.3f}{o['best_single']:>8.3f}  "
            + "".join(f"{o['rules'][r]['final']:>15.3f}" for r in rules)
        )
    print(
        f"\nregret against the best candidate in hindsight ({len(outcomes)} scenarios, "
        f"{len({a for a, _ in outcomes})} archives):"
    )
    lines, summary = regret_table(outcomes, rules)
    print("\n".join(lines))
    print("\nper archive, mean final TPR: each rule vs the best single family in hindsight (the issue's check):")
    for arch in dict.fromkeys(a for a, _ in outcomes):
        rows = [o for (a, _), o in outcomes.items() if a == arch]
        single = np.mean([o["best_single"] for o in rows])
        print(
            f"  {arch:<24} best single {single:.4f}  "
            + "  ".join(f"{r} {np.mean([o['rules'][r]['final'] for o in rows]) - single:+.4f}" for r in rules)
        )
    summary["seconds"] = time.perf_counter() - t_start
    summary["outcomes"] = {f"{a}/{n}": o for (a, n), o in outcomes.items()}
    (RUNS / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    if args.write_prior:
        from toolkit.mico.rules import PRIOR_FILE

        PRIOR_FILE.write_text(
            json.dumps(
                {
                    "made_by": f"python benchmarks/selection.py --write-prior ({len(records)} scenarios)",
                    **fit_prior([r["table"] for r in records.values()]).as_dict(),
                },
                indent=1,
            )
            + "\n"
        )
        print(f"wrote {PRIOR_FILE}")
    print(f"\ntotal {summary['seconds']:.0f} s")


if __name__ == "__main__":
    main()
