"""Class imbalance in the target's training data vs attack success.

The population (default: the demo digits) is split in half at random: half A holds the target's
candidate members, half B its non-members. The target trains on A after removing a fraction
``rate`` of the points of some classes (``LEVELS``); members are the kept A points and
non-members all of B (balanced), so the per-class attack AUC compares members and non-members of
one class. Reference models train on random halves of the whole population (every point is IN
for about half of them), either balanced or with the same removal applied ("imbalanced refs").
The attack is LiRA or RMIA when registered, else hardness calibration (chosen at run time).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from toolkit.attacks import attack_names, run_attack
from toolkit.errors import ConfigError
from toolkit.metrics import bootstrap_ci, scorer_metrics
from toolkit.references.runner import fit_model
from toolkit.references.training import train_config
from toolkit.studies.leakage import leakage_summary
from toolkit.training_tables import References

__all__ = [
    "ImbalanceConfig",
    "LEVELS",
    "PREDICTIONS",
    "pick_attack",
    "removal_mask",
    "run_imbalance",
    "write_imbalance_report",
]

# name → (removal rate, classes thinned); the study's mild/severe and their "reverse" variants.
LEVELS = {
    "none": (0.0, ()),
    "mild": (0.5, (0, 1, 2)),
    "severe": (0.8, (0, 1, 2, 3, 4)),
    "reverse_mild": (0.5, (7, 8, 9)),
    "reverse_severe": (0.8, (5, 6, 7, 8, 9)),
}
# The AUC ranges the study set out to check (predicted, never measured before).
PREDICTIONS = {
    "none": (0.66, 0.68),
    "mild": (0.60, 0.64),
    "severe": (0.55, 0.60),
    "minority": (0.52, 0.55),
    "majority": (0.65, 0.70),
}
PREFERRED = ("lira", "rmia", "hardness")


@dataclass(frozen=True)
class ImbalanceConfig:
    """Settings of the class-imbalance study: dataset, imbalance levels, sweep, models and seeds."""

    dataset: str = "demo"
    arch: str = "demo_mlp"
    levels: tuple[str, ...] = ("none", "mild", "severe", "reverse_mild", "reverse_severe")
    sweep: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)  # on classes 0–2; () to skip
    n_ref: int = 8
    imbalanced_refs: bool = True
    attack: str = "auto"
    epochs: int = 30
    lr: float = 0.05
    batch_size: int = 64
    seed: int = 0
    n_boot: int = 200


def pick_attack(name: str = "auto") -> str:
    """``auto`` → the first registered of LiRA, RMIA, hardness."""
    known = attack_names()
    if name == "auto":
        return next(a for a in PREFERRED if a in known)
    if name not in known:
        raise ConfigError(f"unknown attack {name!r}; valid: auto, {', '.join(known)}")
    return name


def removal_mask(labels: np.ndarray, rate: float, classes, rng: np.random.Generator) -> np.ndarray:
    """Bool [n]: True where a point is removed (each point of ``classes`` with probability ``rate``)."""
    return np.isin(labels, list(classes)) & (rng.random(len(labels)) < rate)


def _train(cfg: ImbalanceConfig, x, y, rows, seed: int, n_classes: int):
    import torch

    tc = train_config(References(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr), seed=seed)
    model = fit_model(cfg.arch, n_classes, x, y, np.flatnonzero(rows), tc)
    with torch.inference_mode():
        return model(torch.from_numpy(x)).numpy()[:, None, :].astype(np.float32)


def _refs(cfg, x, y, n_classes, rate, classes, tag):
    """n_ref reference models on random halves (thinned like the target when ``rate`` > 0)."""
    rng = np.random.default_rng([cfg.seed, 1, tag])
    keep = np.zeros((cfg.n_ref, len(y)), bool)
    logits = []
    for i in range(cfg.n_ref):
        keep[i] = (rng.random(len(y)) < 0.5) & ~removal_mask(y, rate, classes, rng)
        logits.append(_train(cfg, x, y, keep[i], int(rng.integers(2**31)), n_classes))
    return np.stack(logits), keep


def _class_metrics(member, scores, labels, minority, cfg) -> dict:
    from sklearn.metrics import roc_auc_score

    auc = lambda m, s: float(roc_auc_score(m, s))
    per_class = {int(c): auc(member[labels == c], scores[labels == c]) for c in np.unique(labels)}
    out = {
        "per_class_auc": per_class,
        **scorer_metrics(member, scores, fprs=(0.01, 0.05, 0.1)),
        **leakage_summary(member, scores),
    }
    for name, rows in (("minority", np.isin(labels, minority)), ("majority", ~np.isin(labels, minority))):
        if rows.any() and 0 < member[rows].mean() < 1:
            est, lo, hi = bootstrap_ci(member[rows], scores[rows], auc, n_boot=cfg.n_boot, seed=cfg.seed)
            out[f"{name}_auc"] = {"mean": est, "low": lo, "high": hi}
    return out


def _setting(cfg, x, y, half_a, attack, rate, classes, refs, n_classes, tag):
    """Train one target with this removal and attack it with each set of references."""
    rng = np.random.default_rng([cfg.seed, 2, tag])
    trained = half_a & ~removal_mask(y, rate, classes, rng)
    target = _train(cfg, x, y, trained, int(rng.integers(2**31)), n_classes)
    rows = trained | ~half_a  # evaluated: members and the balanced non-member half
    member = trained[rows]
    correct = target[:, 0].argmax(-1) == y
    res = {
        "rate": rate,
        "classes": list(classes),
        "n_train": int(trained.sum()),
        "train_acc": float(correct[trained].mean()),
        "test_acc": float(correct[~half_a].mean()),
        "attacks": {},
    }
    scores = {}
    for ref_name, (ref, keep) in refs.items():
        s = run_attack(attack, target, y, ref, keep, seed=cfg.seed)[rows]
        res["attacks"][ref_name] = _class_metrics(member, s, y[rows], list(classes), cfg)
        scores[ref_name] = (member, s)
    return res, scores


def run_imbalance(cfg: ImbalanceConfig, progress=None) -> dict:
    """Every level (with balanced and, if asked, imbalanced refs) and the removal-rate sweep."""
    import torch

    from toolkit.data import load_population

    unknown = sorted(set(cfg.levels) - set(LEVELS))
    if unknown:
        raise ConfigError(f"unknown imbalance level(s) {', '.join(unknown)}; valid: {', '.join(LEVELS)}")
    attack = pick_attack(cfg.attack)
    pop = load_population(cfg.dataset)
    x, y = pop.inputs.astype(np.float32), pop.labels
    n_classes = int(y.max() + 1)
    half_a = np.random.default_rng([cfg.seed, 0]).permutation(len(y)) < len(y) // 2
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        balanced = {"balanced refs": _refs(cfg, x, y, n_classes, 0.0, (), 0)}
        levels, scores = {}, {}
        for k, name in enumerate(cfg.levels):
            rate, classes = LEVELS[name]
            refs = dict(balanced)
            if cfg.imbalanced_refs and rate > 0:
                refs["imbalanced refs"] = _refs(cfg, x, y, n_classes, rate, classes, 100 + k)
            levels[name], scores[name] = _setting(cfg, x, y, half_a, attack, rate, classes, refs, n_classes, k)
            if progress:
                progress(name, levels[name])
        sweep = []
        for k, rate in enumerate(cfg.sweep):
            res, _ = _setting(cfg, x, y, half_a, attack, rate, (0, 1, 2), balanced, n_classes, 1000 + k)
            sweep.append(res)
            if progress:
                progress(f"sweep {rate:.1f}", res)
    finally:
        torch.set_num_threads(threads)
    return {
        "study": "imbalance",
        "config": asdict(cfg),
        "attack": attack,
        "levels": levels,
        "sweep": sweep,
        "predictions": PREDICTIONS,
        "_scores": scores,
    }


def _fmt(d):
    return f"{d['mean']:.3f} [{d['low']:.3f}, {d['high']:.3f}]" if d else "–"


def write_imbalance_report(res: dict, out) -> list:
    """results.json, report.md, ROC / per-class / histogram PNGs in ``out``; returns the paths."""
    from pathlib import Path

    from toolkit.studies.report import md_table, plot_bars, plot_histograms, plot_rocs, write_json

    out = Path(out)
    write_json(out / "results.json", {k: v for k, v in res.items() if not k.startswith("_")})
    rows = []
    for name, lv in res["levels"].items():
        for refs, m in lv["attacks"].items():
            pred = PREDICTIONS.get(name)
            rows.append(
                [
                    name,
                    refs,
                    lv["n_train"],
                    lv["test_acc"],
                    m["AUC"],
                    m["TPR_FPR_100"],
                    m["TPR_FPR_1000"],
                    _fmt(m.get("minority_auc")),
                    _fmt(m.get("majority_auc")),
                    m["advantage"],
                    m["mi_bits"],
                    f"{pred[0]:.2f}–{pred[1]:.2f}" if pred else "–",
                ]
            )
    sweep = [
        [
            s["rate"],
            s["n_train"],
            s["test_acc"],
            s["attacks"]["balanced refs"]["AUC"],
            _fmt(s["attacks"]["balanced refs"].get("minority_auc")),
            _fmt(s["attacks"]["balanced refs"].get("majority_auc")),
        ]
        for s in res["sweep"]
    ]
    lv = res["levels"]
    lines = [
        "# Class imbalance vs membership inference",
        "",
        f"Population `{res['config']['dataset']}`, architecture `{res['config']['arch']}`, attack `{res['attack']}` "
        f"with {res['config']['n_ref']} reference models; seed {res['config']['seed']}. TPR@FPR strict (MICO rule). "
        "Minority/majority AUC: bootstrap 95% CI over points.",
        "",
        md_table(
            [
                "level",
                "refs",
                "n train",
                "test acc",
                "AUC",
                "TPR@1%",
                "TPR@10%",
                "minority AUC",
                "majority AUC",
                "advantage",
                "MI bits",
                "predicted AUC (seed 000)",
            ],
            rows,
        ),
        "",
    ]
    if sweep:
        lines += [
            "## Removal-rate sweep (classes 0–2, balanced refs)",
            "",
            md_table(["rate", "n train", "test acc", "AUC", "minority AUC", "majority AUC"], sweep),
            "",
        ]
    lines += ["## Against the source's predictions", ""]
    base = lv.get("none", {}).get("attacks", {}).get("balanced refs", {}).get("AUC")
    for name in ("none", "mild", "severe"):
        if name in lv:
            auc = lv[name]["attacks"]["balanced refs"]["AUC"]
            lo, hi = PREDICTIONS[name]
            lines.append(
                f"- `{name}`: AUC {auc:.3f}, predicted {lo:.2f}–{hi:.2f}: "
                f"{'inside' if lo <= auc <= hi else 'outside'} the predicted range"
                + (
                    f"; {'lower' if auc < base else 'higher'} than balanced ({base:.3f})"
                    if base and name != "none"
                    else ""
                )
                + "."
            )
    for name in ("mild", "severe"):
        m = lv.get(name, {}).get("attacks", {})
        if "balanced refs" in m and "minority_auc" in m["balanced refs"]:
            b = m["balanced refs"]
            lines.append(
                f"- `{name}` minority {_fmt(b['minority_auc'])} vs majority {_fmt(b['majority_auc'])} "
                f"(predicted minority 0.52–0.55, majority 0.65–0.70)."
            )
        if "imbalanced refs" in m:
            lines.append(
                f"- `{name}` imbalanced refs: AUC {m['imbalanced refs']['AUC']:.3f} vs balanced refs "
                f"{m['balanced refs']['AUC']:.3f} (predicted: imbalanced refs recover power)."
            )
    lines += [
        "",
        "Members are imbalanced but non-members are not, so the overall AUC also rewards recognising the "
        "class mix; per-class AUCs remove that effect.",
        "",
        "Plots: `roc_<refs>.png`, `per_class_auc.png`, `scores.png`.",
        "",
    ]
    (out / "report.md").write_text("\n".join(lines))
    paths = [out / "results.json", out / "report.md"]
    for refs in ("balanced refs", "imbalanced refs"):
        curves = {n: sc[refs] for n, sc in res["_scores"].items() if refs in sc}
        if curves:
            p = out / f"roc_{refs.split()[0]}.png"
            plot_rocs(p, curves, f"{res['attack']} with {refs}")
            paths.append(p)
    classes = sorted(next(iter(lv.values()))["attacks"]["balanced refs"]["per_class_auc"])
    bars = {n: [v["attacks"]["balanced refs"]["per_class_auc"].get(c, np.nan) for c in classes] for n, v in lv.items()}
    plot_bars(out / "per_class_auc.png", bars, classes, "attack AUC", "per-class AUC (balanced refs)")
    plot_histograms(
        out / "scores.png", {n: sc["balanced refs"] for n, sc in res["_scores"].items()}, f"{res['attack']} score"
    )
    return paths + [out / "per_class_auc.png", out / "scores.png"]
