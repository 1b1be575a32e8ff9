"""Which decision rule should ``recipe = "auto"`` use? Each rule's regret over many local archives.

Eight local archives in MICO's layout, three scenarios each (no DP, DP-SGD ε = 10, ε = 4): the
``purchase_shaped`` track and three more populations of the same generator (other seeds), one at
another n/N (0.5 instead of 0.75), and the ``demo`` with three build seeds. Every archive keeps its
dev/final answers, so for every scenario the benchmark knows each candidate's final-phase figure.

Per scenario it scores every candidate of ``recipe = "auto"`` on the validation split (train models
as targets, the others as references) and on the final phase (targets = final models, references =
every train model), and stores both score matrices (``runs/selection/<scenario>.npz``). Then each
decision rule of ``toolkit.choose.rules`` picks from the validation scores alone, and its
final-phase strict TPR@10%FPR is compared with the best candidate's in hindsight: the regret.
Mean and worst regret are printed per rule, split into no-DP and DP scenarios, and the rule with
the lowest mean regret is also chosen leave-one-archive-out (the rule picked on the other archives,
scored on the held-out one), which is the honest estimate of choosing a rule this way.

    python benchmarks/selection.py --data data -j 2          # build what is missing, score, print
    python benchmarks/selection.py --data data --only-build  # just the archives (resumable)
    python benchmarks/selection.py --data data --rescore     # score again (e.g. after new candidates)

``--kind tml`` asks the same of the ResNet18 task: its archives are practice tasks of both editions
(``resnet18``, ``tml26``; ``toolkit.tml.build``, or ``tests/fixtures_tml.write_task``'s tiny ones with
``--tiny``), ``--tasks`` seeds each, with ``--shadows`` shadow models. Every candidate of ``tml.candidates``
is ranked out-of-fold on the public set (the validation) and scored on the private set after training on
the whole public set; the hidden private answers are the final phase (strict TPR at the board's 5% FPR).

    python benchmarks/selection.py --kind tml --data runs/tml_tasks --tasks 3 --n 2000 --epochs 10 --shadows 8
    python benchmarks/selection.py --kind tml --data /tmp/tml_tiny --tiny --tasks 2 --n 150 --shadows 2  # minutes

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


def sized(tracks: list[Track], only: str | None, models: str | None, epochs: str | None) -> list[Track]:
    """The archives named in ``only`` (all if None), built with ``models`` (train,dev,final) and ``epochs``
    (plain,dp) instead of their tracks' (a smaller run, e.g. ``make results --quick``)."""
    if only:
        tracks = [t for t in tracks if t.name in only.split(",")]
    if models:
        n_train, n_dev, n_final = (int(v) for v in models.split(","))
        tracks = [replace(t, build=replace(t.build, train_models=n_train, dev_models=n_dev, final_models=n_final))
                  for t in tracks]  # fmt: skip
    if epochs:
        plain, dp = (int(v) for v in epochs.split(","))
        tracks = [replace(t, build=replace(t.build, epochs=plain, dp_epochs=dp)) for t in tracks]
    return tracks


def build_all(tracks: list[Track], data: Path, jobs: int) -> None:
    from toolkit.mico.build import build_challenge

    for track in tracks:
        t0 = time.perf_counter()
        build_challenge(track, data, jobs=jobs, progress=True)
        print(f"built {track.name} in {time.perf_counter() - t0:.0f} s", flush=True)


def candidate_list() -> list[str]:
    """The labels auto ranks today (recipes × transforms, then the stackers): the score cache's key."""
    from toolkit.attacks.variants import default_recipes
    from toolkit.choose.calibration import TRANSFORMS
    from toolkit.choose.candidates import Candidate
    from toolkit.choose.rules import FUSION, FUSION_LOWFPR

    labels = [Candidate(r, t).label() for r in default_recipes() for t in TRANSFORMS]
    return sorted(labels + [FUSION, FUSION_LOWFPR])


def score_scenario(track: Track, sc, data: Path, jobs: int, out: Path) -> None:
    """Every candidate's validation and final-phase scores of one scenario, saved to ``out`` (.npz)."""
    from toolkit.mico.auto import candidate_scores, select
    from toolkit.mico.scoring import known_solution

    ctx = Context(track=track, data_dir=data, jobs=jobs, progress=False)
    sd = ctx.open(sc)
    paths = ctx.paths(sd)
    t0 = time.perf_counter()
    sel = select(sd, paths, fpr=leaderboard_fpr(track), rule="best")
    took = time.perf_counter() - t0
    arrays = sd.phase_arrays("final", paths)
    final = candidate_scores(sel, arrays, sel.table.labels)
    final_y = known_solution(sd, data, "final").ravel()
    save_record(out, sel.table, np.stack([final[label] for label in sel.table.labels]), final_y, arrays.groups,
                json.dumps(candidate_list()), took)  # fmt: skip


def save_record(out: Path, t, final: np.ndarray, final_y, final_groups, key: str, seconds: float) -> None:
    """One scenario's (or practice task's) validation table and every candidate's final scores, as an .npz."""
    from toolkit.io import atomic_file

    no_groups = np.zeros(0, np.int64)  # one target: rows are resampled alone
    arrays_out = dict(
        labels=np.array(t.labels),
        families=np.array(t.families),
        recipes=np.array(t.recipes),
        simplicity=np.array(t.simplicity),
        scores=t.scores,
        y=t.y,
        groups=no_groups if t.groups is None else t.groups,
        objective=t.objective,
        ci=t.ci,
        dp=np.array(t.dp),
        fpr=np.array(t.fpr),
        final=final,
        final_y=final_y,
        final_groups=no_groups if final_groups is None else final_groups,
        key=np.array(key),
        seconds=np.array(seconds),
    )
    with atomic_file(out) as f:
        np.savez(f, **arrays_out)


def load_record(path: Path) -> dict:
    from toolkit.choose.rules import Table

    z = np.load(path)
    table = Table(
        labels=tuple(str(v) for v in z["labels"]),
        families=tuple(str(v) for v in z["families"]),
        recipes=tuple(str(v) for v in z["recipes"]),
        simplicity=tuple(tuple(int(x) for x in v) for v in z["simplicity"]),
        scores=z["scores"],
        y=z["y"],
        groups=z["groups"] if z["groups"].size else None,  # empty: one target (tml), rows resampled alone
        objective=z["objective"],
        ci=z["ci"],
        fpr=float(z["fpr"]),
        dp=bool(z["dp"]),
    )
    return {
        "table": table,
        "final": z["final"],
        "y": z["final_y"],
        "groups": z["final_groups"] if z["final_groups"].size else None,
        "seconds": float(z["seconds"]),
        "key": str(z["key"]),
    }


TML_EDITIONS = ("resnet18", "tml26")


def tml_tasks(args) -> list[tuple[str, Path, Path]]:
    """(edition, task folder, answers file) of every practice task, each built where it is missing."""
    out = []
    for edition in TML_EDITIONS:
        for seed in range(args.tasks):
            name = f"{edition}_n{args.n}_seed{seed}" + ("_tiny" if args.tiny else "")
            folder, answers, done = (args.data / f"{name}{end}" for end in ("", "_answers.npz", ".built"))
            if not done.is_file():
                t0 = time.perf_counter()
                _build_tml(edition, folder, answers, args, seed)
                done.write_text("built\n")
                print(f"built {name} in {time.perf_counter() - t0:.0f} s", flush=True)
            out.append((edition, folder, answers))
    return out


def _build_tml(edition: str, folder: Path, answers: Path, args, seed: int) -> None:
    if args.tiny:  # the tests' tiny tasks: a target trained briefly with Adam on a few hundred points
        import sys

        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from fixtures_tml import write_task

        truth = write_task(folder, n_pub=args.n, n_priv=args.n, seed=seed, train_epochs=args.epochs or 2, track=edition)
        np.savez(answers, ids=truth["ids"][args.n :], membership=truth["membership"][args.n :])
        return
    from tml_task import build  # benchmarks/tml_task.py: the organisers' files of the edition, its answers

    build(argparse.Namespace(track=edition, out=folder, answers=answers, n=args.n, seed=seed, epochs=args.epochs))


def score_tml_task(edition: str, folder: Path, answers: Path, args, out: Path, key: str) -> None:
    """Every candidate's out-of-fold scores on the public set (the validation) and its private scores, trained on
    the whole public set, with the hidden private answers (the final phase), saved to ``out`` (.npz)."""
    from toolkit.data.tml import layout_of, load_task
    from toolkit.tml.candidates import candidates, score_candidate
    from toolkit.tml.pipeline import collect_outputs
    from toolkit.tml.references import default_train_config, train_task_shadows
    from toolkit.tml.validation import out_of_fold, rank, stratified_folds
    from toolkit.tracks import ShadowTraining
    from toolkit.views import parse_views

    track = load_track(edition)
    task = load_task(folder, layout_of(track))
    paths, keep = [], None
    if args.shadows:
        cfg = default_train_config(track.shadow or ShadowTraining(), 0, args.shadow_epochs)
        paths, keep = train_task_shadows(task, folder.with_name(f"{folder.name}_shadows"), args.shadows, cfg,
                                         progress=False, architecture=track.architecture)  # fmt: skip
    views = parse_views(track.views)
    outs = collect_outputs(task, paths, keep, views=views, cache_dir=args.data / "cache", jobs=args.jobs,
                           progress=False, architecture=track.architecture)  # fmt: skip
    t0 = time.perf_counter()
    cands = candidates(bool(paths), outs.target.shape[2])
    oof = out_of_fold(cands, outs, stratified_folds(outs.membership[: outs.n_pub], 5, 0), 0)
    table, _ = rank(cands, oof, outs.membership[: outs.n_pub], 0, 200, 200)
    took = time.perf_counter() - t0
    by_label, pub, priv = {c.label: c for c in cands}, np.arange(outs.n_pub), np.arange(outs.n_pub, len(outs.ids))
    final = np.stack([score_candidate(by_label[label], outs, priv, pub) for label in table.labels])
    with np.load(answers) as a:
        member = dict(zip(a["ids"].tolist(), a["membership"].tolist()))
    final_y = np.array([member[i] for i in outs.ids[priv].tolist()], np.int64)
    save_record(out, table, final, final_y, None, key, took)


def tml_records(args) -> dict:
    """{(task, task): record} of every practice task (one scenario each), scored where missing or stale."""
    runs, records = args.runs / "tml", {}
    runs.mkdir(parents=True, exist_ok=True)
    for edition, folder, answers in tml_tasks(args):
        if args.only_build:
            continue
        key = json.dumps({"shadows": args.shadows, "shadow_epochs": args.shadow_epochs, "version": 1})
        path = runs / f"{folder.name}.npz"
        if args.rescore or not path.is_file() or load_record(path)["key"] != key:
            score_tml_task(edition, folder, answers, args, path, key)
        records[(folder.name, folder.name)] = load_record(path)
        print(f"scored {folder.name} ({records[(folder.name, folder.name)]['seconds']:.0f} s ranking)", flush=True)
    return records


def final_tpr(rec: dict, scores: np.ndarray) -> float:
    from toolkit.metrics import objective_value

    return objective_value(rec["y"], scores, rec["table"].fpr)[1]


def rule_outcomes(records: dict, rules: list[str]) -> dict:
    """{(archive, scenario): {rule: (pick, final TPR)}, plus the best in hindsight}: priors leave the archive out."""
    from toolkit.choose.rules import apply_rule, combine, fit_prior

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
    mean = lambda xs: float(np.mean(xs)) if xs else float("nan")  # noqa: E731  (tml has no DP scenario)
    worst = lambda xs: max(xs) if xs else float("nan")  # noqa: E731
    for rule in rules:
        nd = regrets(rule, lambda k, o: not o["dp"])
        dp = regrets(rule, lambda k, o: o["dp"])
        al = nd + dp
        fin = np.mean([o["rules"][rule]["final"] for o in outcomes.values()])
        stats[rule] = {
            "nodp_mean": mean(nd),
            "nodp_worst": worst(nd),
            "dp_mean": mean(dp),
            "dp_worst": worst(dp),
            "mean": mean(al),
            "worst": worst(al),
            "final": fin,
        }
        lines.append(
            f"{rule:<16}{mean(nd):>11.4f}{worst(nd):>8.4f}{mean(dp):>9.4f}{worst(dp):>8.4f}"
            f"{mean(al):>10.4f}{worst(al):>8.4f}{fin:>12.4f}"
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


def mico_records(args) -> dict:
    """{(archive, scenario): record} of every local MICO archive, built and scored where missing or stale."""
    tracks = sized(archives(), args.only, args.models, args.build_epochs)
    build_all(tracks, args.data, args.jobs)
    if args.only_build:
        return {}
    args.runs.mkdir(parents=True, exist_ok=True)
    key = json.dumps(candidate_list())
    records = {}
    for track in tracks:
        for sc in track.scenarios:
            path = args.runs / f"{sc.name}.npz"
            if args.rescore or not path.is_file() or load_record(path)["key"] != key:
                score_scenario(track, sc, args.data, args.jobs, path)
            records[(track.name, sc.name)] = load_record(path)
            print(f"scored {sc.name} ({records[(track.name, sc.name)]['seconds']:.0f} s selection)", flush=True)
    return records


def main() -> None:
    from toolkit.choose.rules import RULES, fit_prior

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", choices=("mico", "tml"), default="mico", help="local MICO archives or tml tasks")
    ap.add_argument("--data", default="data", type=Path)
    ap.add_argument("-j", "--jobs", default=2, type=int)
    ap.add_argument("--only-build", action="store_true")
    ap.add_argument("--rescore", action="store_true", help="score every scenario again")
    ap.add_argument("--runs", default=RUNS, type=Path, help="where the score matrices are kept")
    ap.add_argument("--out", type=Path, default=None, help="also write the summary (every figure) here as JSON")
    ap.add_argument(
        "--write-prior", action="store_true", help="write the family prior of rule 'shrunk' from every archive"
    )
    ap.add_argument("--only", default=None, help="mico: only these archives (comma-separated names)")
    ap.add_argument("--models", default=None, help="mico: train,dev,final models to build (default: each track's)")
    ap.add_argument("--build-epochs", default=None, help="mico: plain,dp epochs to build with")
    tml = ap.add_argument_group("--kind tml")
    tml.add_argument("--tasks", type=int, default=3, help="practice tasks per edition (seeds 0…)")
    tml.add_argument("--n", type=int, default=2000, help="points in each of pub and priv")
    tml.add_argument("--epochs", type=int, default=None, help="the target's epochs (default: the track's)")
    tml.add_argument("--shadows", type=int, default=4, help="shadow models per task")
    tml.add_argument("--shadow-epochs", type=int, default=None, help="their epochs (default: the track's)")
    tml.add_argument("--tiny", action="store_true", help="tests/fixtures_tml's tiny tasks (seconds to build)")
    args = ap.parse_args()
    t_start = time.perf_counter()
    records = mico_records(args) if args.kind == "mico" else tml_records(args)
    if args.only_build:
        return
    runs = args.runs if args.kind == "mico" else args.runs / "tml"
    what = "final-phase strict TPR@10%FPR" if args.kind == "mico" else "hidden private answers, strict TPR@5%FPR"
    rules = list(RULES)
    outcomes = rule_outcomes(records, rules)
    print(f"\nper scenario, {what} (best candidate in hindsight, then each rule):")
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
    for path in (runs / "summary.json", args.out):
        if path is not None:
            path.write_text(json.dumps(summary, indent=2, default=float))
    if args.write_prior and args.kind == "mico":
        from toolkit.choose.rules import PRIOR_FILE

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
