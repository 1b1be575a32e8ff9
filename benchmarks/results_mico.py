"""``make results``' sections on MICO-shaped local tracks (kind ``mico``), each built here by ``mia challenge build``.

``demo`` (the embedded default: ``make submit``'s figures), ``ceilings`` (the DP ceilings of MICO's recipes),
``references`` (auto's figure with N = 0…128 references of our own, ``benchmarks/references.py``), ``ddp``
(matched references on ``purchase_shaped_ddp``), ``mismatch`` (a challenge built in another recipe: the check
and ``--match``, ``benchmarks/recipe_mismatch.py``), ``evaluate`` (``mia evaluate --track demo``: every attack
under rank and raw pooling), ``purchase_shaped`` (the MICO-shaped track: every attack, and auto's validation
beside the final phase, ``benchmarks/auto_vs_final.py``), ``tuning`` (``mia tune --track demo``), ``selection``
(each decision rule's regret over eight local archives, ``benchmarks/selection.py``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from measured import OUTPUTS, PLACES, QUICK_BUILD, archive, figure, mia, regret_figures, script, slug

FULL = {
    "demo": {},  # the track's own [build] sizes, as `make submit`
    "references": {"track": "purchase_shaped", "counts": "0,32,64,128", "scenarios": ()},
    "mismatch": {"track": "purchase_shaped", "scenario": "purchase_shaped_inf", "build_epochs": 12, "n": 32},
    "ddp": {"n": 8},
    "tuning": {"trials": 30},
    "selection": [],
}
QUICK = {
    "demo": dict(QUICK_BUILD),
    "references": {"track": "demo", "counts": "0,4", "scenarios": ("demo_inf",)},
    "mismatch": {"track": "demo", "scenario": "demo_inf", "build_epochs": 3, "n": 4, "models": "8,2,2"},
    "ddp": {"n": 2, "build": {"train_models": 4}},
    "tuning": {"trials": 2},
    "selection": ["--only", "demo,demo_seed7", "--models", "8,2,2", "--build-epochs", "5,2"],
}


def demo(quick: bool, work: Path) -> dict:
    """``make submit``: per scenario the recipe's and the baseline's final-phase figure, and their means."""
    from dataclasses import replace

    from toolkit.context import Context
    from toolkit.metrics import metric_key, pooled_ci
    from toolkit.mico.pipeline import submit
    from toolkit.tracks import load_track

    sizes = dict(QUICK["demo"] if quick else FULL["demo"])
    track = load_track("demo")
    epochs = {k: sizes.pop(k) for k in ("epochs", "dp_epochs") if k in sizes}
    if epochs:
        track = replace(track, build=replace(track.build, **epochs))
    ctx = Context(track=track, data_dir=work / "demo_data", jobs=2, progress=False)
    start = time.perf_counter()
    _, summary, table = submit(ctx, **sizes)
    OUTPUTS["demo"] = f"{table}\nstage seconds: " + ", ".join(f"{k}={v:.1f}" for k, v in ctx.timings.items())
    OUTPUTS["demo"] += f"\n(all stages: {time.perf_counter() - start:.0f} s)"
    key, out, command = metric_key(0.1), {}, "make submit"
    for method in ("recipe", "baseline"):
        vals, cis = [], []
        for name, meta in summary.items():
            m = meta["metrics"][method]["final"]
            vals.append(m[key])
            cis.append(m["ci95"])
            out[f"demo.{name}.{method}"] = figure(m[key], m["ci95"], command)
        out[f"demo.mean.{method}"] = figure(float(np.mean(vals)), pooled_ci(vals, cis), command)
    for name, meta in summary.items():
        c = (meta.get("auto") or {}).get("corrected")
        if c:
            out[f"demo.{name}.corrected"] = figure(c["estimate"], c["ci"], command)
            out[f"demo.{name}.validation"] = figure(c["raw"], None, command)
    return out


def ceilings(quick: bool, work: Path) -> dict:
    """The TPR@10%FPR that no attack can pass under each MICO DP recipe (exact: no interval)."""
    from toolkit.mico.ceiling import recipe_ceiling
    from toolkit.tracks import load_track

    out = {}
    for name in ("cifar10", "purchase100", "sst2", "demo", "purchase_shaped", "purchase_shaped_full"):
        track = load_track(name)
        for sc in track.scenarios:
            if sc.dp:
                c = recipe_ceiling(track, sc)["tpr_ceiling"]["TPR_FPR_1000"]
                out[f"ceiling.{sc.name}"] = figure(c, None, "python benchmarks/dp_ceilings.py")
    only = ["--tracks", "demo"] if quick else []  # the whole table, with each ceiling's cold and warm seconds
    script("dp_ceilings", ["dp_ceilings.py", *only, "--work", work / "dp_cache"], work, out_flag=None)
    first, *rest = OUTPUTS["dp_ceilings"].splitlines()
    OUTPUTS["dp_ceilings"] = "\n".join([first.split("; cache ")[0], *rest])  # not the run's temporary folder
    return out


def references(quick: bool, work: Path) -> dict:
    """``mia references``' gain: auto's final/dev figure with N = 0, 32, … local references per scenario."""
    from toolkit.metrics import pooled_ci

    size = (QUICK if quick else FULL)["references"]
    data = archive(size["track"], quick, work)
    only = [a for sc in size["scenarios"] for a in ("-s", sc)]
    args = ["references.py", "--track", size["track"], "--data", data, "--counts", size["counts"], "-j", 2, *only]
    rows = script("references", [*args, "--runs", work / "runs_references"], work)
    cmd = f"python benchmarks/references.py --track {size['track']} --data data --counts {size['counts']} -j 2"
    out = {}
    for r in rows:
        for phase in ("final", "dev"):
            out[f"references.{r['scenario']}.{r['n']}.{phase}"] = figure(r[phase], r[f"{phase}_ci"], cmd)
        if r["n"] and r["s_per_model"]:
            out[f"references.{r['scenario']}.s_per_model"] = figure(r["s_per_model"], None, cmd, "seconds")
    for n in sorted({r["n"] for r in rows}):
        for phase in ("final", "dev"):
            vals = [r[phase] for r in rows if r["n"] == n]
            cis = [r[f"{phase}_ci"] for r in rows if r["n"] == n]
            out[f"references.mean.{n}.{phase}"] = figure(float(np.mean(vals)), pooled_ci(vals, cis), cmd)
    return out


def ddp(quick: bool, work: Path) -> dict:
    """Matched references on the ddp-shaped local track: each target calibrated against its own training set,
    then against references matched to it (``mia references --matched``); final phase, recipe and baseline."""
    from toolkit.metrics import metric_key

    size = (QUICK if quick else FULL)["ddp"]
    track, runs = "purchase_shaped_ddp", work / "ddp_runs"
    data = archive(track, quick, work, size.get("build"))
    where = ["--track", track, "--data", data, "-j", 2]
    out, key, printed = {}, metric_key(0.1), []
    for arm, cmd in (("own", "mia attack"), ("matched", "mia attack  # after mia references --matched")):
        if arm == "matched":
            printed.append(mia(["references", *where, "--matched", "-n", size["n"]], runs))
        printed.append(mia(["attack", *where], runs))
        for meta_file in sorted((runs / track / "attack").glob("*.json")):
            metrics = json.loads(meta_file.read_text())["metrics"]
            for method, name in (("recipe", arm), ("baseline", "baseline")):
                m = metrics[method]["final"]
                out[f"ddp.{name}.tpr"] = figure(m[key], m["ci95"], cmd)
                out[f"ddp.{name}.auc"] = figure(m["AUC"], None, cmd, "AUC")
    OUTPUTS["ddp"] = "\n\n".join(printed)
    return out


def mismatch(quick: bool, work: Path) -> dict:
    """A challenge built in another recipe than the track says: auto's and LiRA's figure per reference arm."""
    size = (QUICK if quick else FULL)["mismatch"]
    args = ["recipe_mismatch.py", "--track", size["track"], "-s", size["scenario"]]
    args += ["--build-epochs", size["build_epochs"], "-n", size["n"], "-j", 2]
    args += ["--models", size["models"]] if "models" in size else []
    got = script("mismatch", [*args, "--work", work / "mismatch"], work)
    cmd = "python benchmarks/" + " ".join(map(str, args))
    out = {}
    for key, r in zip(("none", "track", "match", "built"), got["rows"]):
        out[f"mismatch.{key}.auto"] = figure(r["final"], r["final_ci"], cmd)
        out[f"mismatch.{key}.lira"] = figure(r["lira_final"], r["lira_final_ci"], cmd)
    for g in got["grid"]:
        out[f"mismatch.distance.{g['epochs']}_{g['lr']:g}"] = figure(g["distance"], None, cmd, "distance")
    return out


def _attack_table(track_name: str, data: Path, pooling: str, work: Path, prefix: str) -> tuple[dict, str]:
    """``mia evaluate``'s table of ``track_name``: every attack's TPR@10%FPR and AUC on the validation folds with
    95% bootstrap intervals over target models; (figures under ``prefix``, the table as the docs show it)."""
    from toolkit.studies.evaluate import evaluate_track

    table = evaluate_track(track_name, data, pooling=pooling, cache_dir=work / "cache", jobs=2, out_dir=None)
    cmd = f"mia evaluate --track {track_name} --pooling {pooling}"
    names = list(dict.fromkeys(table["scenario"]))
    lines = ["| attack | " + " | ".join(f"{n} TPR@10% | {n} AUC" for n in names) + " |"]
    lines.append("|---" * (1 + 2 * len(names)) + "|")
    out = {}
    for attack, rows in table.groupby("attack", sort=False):
        cells = []
        for _, r in rows.iterrows():
            key = f"{prefix}.{r['scenario']}.{slug(attack)}"
            out[f"{key}.tpr"] = figure(r["tpr@10%fpr"], (r["tpr10_lo"], r["tpr10_hi"]), cmd)
            out[f"{key}.auc"] = figure(r["auc"], (r["auc_lo"], r["auc_hi"]), cmd, "AUC")
            cells += [f"{r['tpr@10%fpr']:.3f} [{r['tpr10_lo']:.3f}, {r['tpr10_hi']:.3f}]"]
            cells += [f"{r['auc']:.3f} [{r['auc_lo']:.3f}, {r['auc_hi']:.3f}]"]
        lines.append(f"| {attack} | " + " | ".join(cells) + " |")
    return out, "\n".join(lines)


def evaluate(quick: bool, work: Path) -> dict:
    """``mia evaluate --track demo`` under rank and raw pooling: the tables the docs show whole."""
    data, out = archive("demo", quick, work), {}
    for pooling in ("rank", "raw"):
        got, OUTPUTS[f"evaluate_{pooling}"] = _attack_table("demo", data, pooling, work, f"evaluate.{pooling}")
        out |= got
    return out


def purchase_shaped(quick: bool, work: Path) -> dict:
    """The MICO-shaped track: every attack on the validation folds (``mia evaluate``), then auto's pick and every
    candidate's final-phase figure beside its validation figure (``benchmarks/auto_vs_final.py``)."""
    data = archive("purchase_shaped", quick, work)
    out, OUTPUTS["purchase_shaped_evaluate"] = _attack_table("purchase_shaped", data, "rank", work, "purchase_shaped")
    got = script("purchase_shaped_auto", ["auto_vs_final.py", "--track", "purchase_shaped", "--data", data], work,
                 out_flag="--json")  # fmt: skip
    cmd = "python benchmarks/auto_vs_final.py --track purchase_shaped --data data"
    for name, sc in got.items():
        out[f"purchase_shaped.{name}.auto.final"] = figure(sc["final"], None, cmd)
        out[f"purchase_shaped.{name}.auto.validation"] = figure(sc["validation"], sc["ci"], cmd)
        out[f"purchase_shaped.{name}.spearman"] = figure(sc["spearman"], None, cmd, "rho")
    for what in ("final", "best_single_final", "best_hardness_final"):
        out[f"purchase_shaped.mean.{what}"] = figure(np.mean([sc[what] for sc in got.values()]), None, cmd)
    return out


def tuning(quick: bool, work: Path) -> dict:
    """``mia tune --track demo``, then ``mia attack``: the tuned and the default recipe on held-out train models,
    which one is used, and the final-phase figure of the recipe attack then uses."""
    from toolkit.metrics import metric_key

    data, runs = archive("demo", quick, work), work / "tuning_runs"
    trials = (QUICK if quick else FULL)["tuning"]["trials"]
    where = ["--track", "demo", "--data", data, "-j", 2]
    cmd = f"mia tune --track demo --trials {trials}"
    printed = mia(["tune", *where, "--trials", trials, "--no-report", "-q"], runs)
    OUTPUTS["tuning"] = "\n".join(line for line in printed.splitlines() if not line.startswith("[I "))
    mia(["attack", *where], runs)
    out = {}
    for name, e in json.loads((runs / "demo" / "tuned_recipes.json").read_text()).items():
        h, d = e["heldout"], e["default_heldout"]
        out[f"tuning.{name}.tuned"] = figure(h["objective"], h["ci"], cmd)
        out[f"tuning.{name}.default"] = figure(d["objective"], d["ci"], cmd)
        m = json.loads((runs / "demo" / "attack" / f"{name}.json").read_text())["metrics"]["recipe"]["final"]
        out[f"tuning.{name}.final"] = figure(m[metric_key(0.1)], m["ci95"], f"{cmd}; mia attack --track demo")
    return out


def selection(quick: bool, work: Path) -> dict:
    """Each decision rule's regret over the local archives (final phase, strict TPR@10%FPR); hours at full size."""
    args = (QUICK if quick else FULL)["selection"]
    data = work / "quick_data" if quick else PLACES["data"]
    got = script("selection", ["selection.py", *args, "--data", data, "--runs", work / "selection"], work)
    return regret_figures("selection", got, " ".join(["python benchmarks/selection.py", *args]))


SECTIONS = {
    "demo": demo,
    "ceilings": ceilings,
    "references": references,
    "ddp": ddp,
    "mismatch": mismatch,
    "evaluate": evaluate,
    "purchase_shaped": purchase_shaped,
    "tuning": tuning,
    "selection": selection,
}
