"""Model size vs overfitting vs attack success (Shokri et al. 2017 shadow-model attack).

Per repeat r and width h: a target 2-layer MLP (Linear–ReLU–Linear, (d+1)h + (h+1)C parameters)
and S shadows of the same width, each trained on its own dataset from one distribution (Gaussian
clusters by default, see ``toolkit.data.synthetic``), half of it as training data. All models are
evaluated on the pool of every dataset, so the shadows' outputs are reference logits on the same
points as the target's and every registered attack runs through ``run_attack``: ``keep`` marks a
shadow's own training half; target points are OUT for every shadow. The attack AUC is measured on
the target's own dataset, train half = members, test half = non-members.

Pool rows add non-member rows from other datasets to the shadow classifier's training data (the
source used a shadow's own test half only); the classifier uses balanced class weights for that.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from toolkit.attacks import attack_names, run_attack
from toolkit.errors import ConfigError
from toolkit.models import register_architecture
from toolkit.references.runner import fit_model
from toolkit.references.training import train_config
from toolkit.studies.leakage import leakage_summary
from toolkit.training_tables import References

__all__ = [
    "ScalingConfig",
    "SOURCE",
    "study_mlp",
    "n_params",
    "parse_attacks",
    "run_scaling",
    "correlations",
    "write_scaling_report",
]

# The reference study's figures ("the source"): mean ± std over 3 repeats per width; r and p over the five width means.
SOURCE = {
    "auc": {16: (0.516, 0.011), 32: (0.529, 0.014), 64: (0.541, 0.015), 128: (0.527, 0.006), 256: (0.544, 0.024)},
    "gap": {16: (0.235, 0.005), 32: (0.273, 0.011), 64: (0.329, 0.010), 128: (0.344, 0.014), 256: (0.355, 0.011)},
    "train_acc": {16: 0.901, 32: 0.953, 64: 0.995, 128: 1.0, 256: 1.0},
    "test_acc": {16: 0.667, 32: 0.680, 64: 0.665, 128: 0.656, 256: 0.645},
    "r": {"auc_vs_log2_params": (0.743, 0.150), "auc_vs_gap": (0.782, 0.118), "gap_vs_log2_params": (0.958, 0.010)},
}
ALIASES = {"loss": ("threshold", {"signal": "loss"}), "shokri-sorted": ("shokri", {"sort": True, "true_class": True})}


@register_architecture("study_mlp")
def study_mlp(n_classes: int = 5, in_features: int = 10, width: int = 64):
    """Linear(d, h) – ReLU – Linear(h, C), the reference study's target and shadow architecture."""
    from torch import nn

    return nn.Sequential(nn.Linear(in_features, width), nn.ReLU(), nn.Linear(width, n_classes))


def n_params(width: int, in_features: int = 10, n_classes: int = 5) -> int:
    """(d + 1)·h + (h + 1)·C: 261 for h = 16 and 4,101 for h = 256 with d = 10, C = 5."""
    return (in_features + 1) * width + (width + 1) * n_classes


@dataclass(frozen=True)
class ScalingConfig:
    """Settings of the model-size scaling study: widths, repeats, shadows and seed."""

    widths: tuple[int, ...] = (16, 32, 64, 128, 256)
    repeats: int = 3
    shadows: int = 3
    seed: int = 0
    attacks: tuple[str, ...] = ("shokri",)
    dataset: str = "gaussian"  # "gaussian" = fresh clusters per repeat; else a registered population
    n_per_class: int = 100  # gaussian: 5 × 100 = 500 points per dataset
    n_features: int = 10
    n_classes: int = 5
    noise_std: float = 1.5  # the source's code: randn · 1.5 (see toolkit.data.synthetic)
    shadow_centres: str = "same"  # "redraw": each shadow gets its own centres, as the source's code did
    epochs: int = 50
    lr: float = 0.01
    batch_size: int = 64  # the source's minibatch; ≥ n gives full-batch Adam
    train_fraction: float = 0.5
    shokri_params: dict = field(default_factory=lambda: {"sort": False, "true_class": False})


def parse_attacks(names) -> dict[str, tuple[str, dict]]:
    """Labels → (registered attack, params); 'loss' = threshold on the loss. Unknown names list the valid ones."""
    known = attack_names()
    out = {}
    for label in names:
        name, params = ALIASES.get(label, (label, {}))
        if name not in known:
            raise ConfigError(f"unknown attack {label!r}; valid: {', '.join(sorted(set(known) | set(ALIASES)))}")
        out[label] = (name, dict(params))
    return out


def _datasets(cfg: ScalingConfig, repeat: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """1 + S datasets for one repeat: the target's first, then each shadow's."""
    rng = np.random.default_rng([cfg.seed, repeat])
    if cfg.dataset == "gaussian":
        from toolkit.data.synthetic import cluster_centres, gaussian_clusters

        centres = cluster_centres(np.random.default_rng([cfg.seed]), cfg.n_classes, cfg.n_features)
        out = []
        for k in range(1 + cfg.shadows):
            c = (
                cluster_centres(rng, cfg.n_classes, cfg.n_features)
                if (k and cfg.shadow_centres == "redraw")
                else centres
            )
            out.append(gaussian_clusters(rng, c, cfg.n_per_class, cfg.noise_std))
        return out
    from toolkit.data import load_population

    pop = load_population(cfg.dataset)
    x = pop.inputs.reshape(len(pop), -1).astype(np.float32)
    size = len(pop) // (1 + cfg.shadows)
    order = rng.permutation(len(pop))
    return [
        (x[order[k * size : (k + 1) * size]], pop.labels[order[k * size : (k + 1) * size]])
        for k in range(1 + cfg.shadows)
    ]


def _train(cfg: ScalingConfig, width: int, x, y, seed: int, n_classes: int):
    table = References(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, optimizer="adam")
    tc = train_config(table, seed=seed)
    return fit_model("study_mlp", n_classes, x, y, np.arange(len(x)), tc, in_features=x.shape[1], width=width)


def run_one(cfg: ScalingConfig, width: int, repeat: int, datasets, attacks) -> tuple[dict, dict]:
    """Train 1 + S models of one width and attack the target; (row of figures, scores per attack)."""
    import torch

    n_classes = int(max(int(y.max()) for _, y in datasets) + 1)
    x_pool = np.concatenate([x for x, _ in datasets])
    y_pool = np.concatenate([y for _, y in datasets])
    owner = np.concatenate([np.full(len(y), k) for k, (_, y) in enumerate(datasets)])
    n_train = [int(round(cfg.train_fraction * len(y))) for _, y in datasets]
    # within each dataset, the first n_train points (already shuffled) are the training half
    pos = np.concatenate([np.arange(len(y)) for _, y in datasets])
    keep = np.stack([(owner == k) & (pos < n_train[k]) for k in range(len(datasets))])
    logits = []
    for k in range(len(datasets)):
        seed = int(np.random.SeedSequence([cfg.seed, repeat, width, k]).generate_state(1)[0] % 2**31)
        rows = keep[k]
        model = _train(cfg, width, x_pool[rows], y_pool[rows], seed, n_classes)
        with torch.inference_mode():
            logits.append(model(torch.from_numpy(x_pool)).numpy()[:, None, :])
    logits = np.stack(logits).astype(np.float32)  # [1 + S, n_pool, 1, C]
    mine = owner == 0
    correct = logits[0, :, 0].argmax(-1) == y_pool
    row = {
        "width": width,
        "repeat": repeat,
        "params": n_params(width, x_pool.shape[1], n_classes),
        "train_acc": float(correct[keep[0]].mean()),
        "test_acc": float(correct[mine & ~keep[0]].mean()),
    }
    row["gap"] = row["train_acc"] - row["test_acc"]
    member = keep[0][mine]
    scores = {}
    for label, (name, params) in attacks.items():
        if name == "shokri":
            params = {**cfg.shokri_params, **params}
        s = run_attack(name, logits[0], y_pool, logits[1:], keep[1:], seed=cfg.seed, **params)[mine]
        scores[label] = (member, s)
        row[f"auc_{label}"] = _auc(member, s)
        row.update({f"{k}_{label}": v for k, v in leakage_summary(member, s).items()})
    return row, scores


def _auc(member, scores) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(member, scores))


def correlations(x, y) -> dict[str, float]:
    """Pearson r, two-sided p (scipy) and a 95% Fisher-z interval for r (NaN with < 4 points)."""
    from scipy.stats import pearsonr

    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3 or x.std() == 0 or y.std() == 0:
        return {"r": math.nan, "p": math.nan, "low": math.nan, "high": math.nan, "n": len(x)}
    r, p = pearsonr(x, y)
    lo = hi = math.nan
    if len(x) > 3 and abs(r) < 1:
        z, half = math.atanh(r), 1.96 / math.sqrt(len(x) - 3)
        lo, hi = math.tanh(z - half), math.tanh(z + half)
    return {"r": float(r), "p": float(p), "low": lo, "high": hi, "n": len(x)}


def summarise(cfg: ScalingConfig, rows: list[dict], labels) -> tuple[list[dict], dict]:
    """Per-width means with t-intervals over repeats, and the three correlations per attack."""
    from toolkit.studies.report import mean_ci

    summary = []
    for w in cfg.widths:
        mine = [r for r in rows if r["width"] == w]
        s = {"width": w, "params": mine[0]["params"]}
        for key in ["train_acc", "test_acc", "gap"] + [f"auc_{a}" for a in labels]:
            vals = [r[key] for r in mine]
            mean, lo, hi = mean_ci(vals)
            s[key] = {"mean": mean, "std": float(np.std(vals)), "low": lo, "high": hi}
        summary.append(s)
    logp = np.log2([s["params"] for s in summary])
    gap = [s["gap"]["mean"] for s in summary]
    corr = {
        "gap_vs_log2_params": {
            "means": correlations(logp, gap),
            "runs": correlations(np.log2([r["params"] for r in rows]), [r["gap"] for r in rows]),
        }
    }
    for a in labels:
        auc = [s[f"auc_{a}"]["mean"] for s in summary]
        corr[f"auc_{a}_vs_log2_params"] = {
            "means": correlations(logp, auc),
            "runs": correlations(np.log2([r["params"] for r in rows]), [r[f"auc_{a}"] for r in rows]),
        }
        corr[f"auc_{a}_vs_gap"] = {
            "means": correlations(gap, auc),
            "runs": correlations([r["gap"] for r in rows], [r[f"auc_{a}"] for r in rows]),
        }
    return summary, corr


def run_scaling(cfg: ScalingConfig, progress=None) -> dict:
    """The whole study: results dict (config, rows, summary, correlations) plus ``_scores`` for plots."""
    import torch

    attacks = parse_attacks(cfg.attacks)
    if cfg.shadow_centres not in ("same", "redraw"):
        raise ConfigError(f"shadow_centres must be 'same' or 'redraw', got {cfg.shadow_centres!r}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: threads cost more than they give, and keep runs reproducible
    try:
        rows, hist = [], {}
        for repeat in range(cfg.repeats):
            datasets = _datasets(cfg, repeat)
            for w in cfg.widths:
                row, scores = run_one(cfg, w, repeat, datasets, attacks)
                rows.append(row)
                if repeat == 0:
                    hist[w] = scores
                if progress:
                    progress(row)
    finally:
        torch.set_num_threads(threads)
    summary, corr = summarise(cfg, rows, list(attacks))
    return {
        "study": "scaling",
        "config": asdict(cfg),
        "rows": rows,
        "summary": summary,
        "correlations": corr,
        "_scores": hist,
    }


def _verdict(corr: dict, label: str) -> str:
    gap, size = corr[f"auc_{label}_vs_gap"]["means"], corr[f"auc_{label}_vs_log2_params"]["means"]
    holds = gap["r"] > 0 and size["r"] > 0 and gap["r"] >= size["r"]
    return (
        f"- `{label}`: r(AUC, gap) = {gap['r']:.3f} (p = {gap['p']:.3f}), r(AUC, log2 params) = {size['r']:.3f} "
        f"(p = {size['p']:.3f}): the source's ordering (gap ≥ size, both positive) "
        f"{'holds' if holds else 'does not hold'} here."
    )


def write_scaling_report(res: dict, out) -> list:
    """results.json, report.md and three PNGs in folder ``out``; returns the written paths."""
    from pathlib import Path

    from toolkit.studies.report import md_table, plot_errorbars, plot_histograms, write_json

    out = Path(out)
    labels = list(res["config"]["attacks"])
    summary, corr = res["summary"], res["correlations"]
    write_json(out / "results.json", {k: v for k, v in res.items() if not k.startswith("_")})
    ci = lambda d: f"{d['mean']:.3f} [{d['low']:.3f}, {d['high']:.3f}]"
    src = lambda key, w: "{:.3f} ± {:.3f}".format(*SOURCE[key][w]) if w in SOURCE[key] else "–"
    rows = [
        [
            s["width"],
            s["params"],
            s["train_acc"]["mean"],
            s["test_acc"]["mean"],
            ci(s["gap"]),
            src("gap", s["width"]),
            *[ci(s[f"auc_{a}"]) for a in labels],
            src("auc", s["width"]),
        ]
        for s in summary
    ]
    header = (
        ["width", "params", "train acc", "test acc", "gap (95% CI)", "source gap"]
        + [f"AUC {a} (95% CI)" for a in labels]
        + ["source AUC (shokri)"]
    )
    crow = []
    for key, val in corr.items():
        m, r = val["means"], val["runs"]
        src_key = key.replace("auc_shokri_", "auc_") if key.startswith("auc_shokri_") else key
        s = SOURCE["r"].get(src_key)
        crow.append(
            [
                key,
                f"{m['r']:.3f} [{m['low']:.3f}, {m['high']:.3f}]",
                f"{m['p']:.3f}",
                f"{r['r']:.3f} (p = {r['p']:.3g}, n = {r['n']})",
                f"{s[0]:.3f} (p = {s[1]:.3f})" if s else "–",
            ]
        )
    cfg = res["config"]
    lines = [
        "# Model size vs overfitting vs membership inference",
        "",
        f"Data `{cfg['dataset']}`; widths {cfg['widths']}; {cfg['repeats']} repeats; {cfg['shadows']} shadows per "
        f"target; {cfg['epochs']} epochs Adam lr {cfg['lr']}, batch {cfg['batch_size']}; seed {cfg['seed']}; "
        f"shadow centres `{cfg['shadow_centres']}`. Intervals: Student-t over repeats (table), Fisher z (r).",
        "",
        md_table(header, rows),
        "",
        "## Correlations (Pearson; 'means' = over width means as the source did, 'runs' = every target)",
        "",
        md_table(["pair", "r over means [95% CI]", "p", "r over runs", "source r (p)"], crow),
        "",
        "## Against the source (the reference study)",
        "",
        *[_verdict(corr, a) for a in labels],
        f"- Source AUCs 0.516–0.544 (shokri); ours {min(s['auc_' + labels[0]]['mean'] for s in summary):.3f}–"
        f"{max(s['auc_' + labels[0]]['mean'] for s in summary):.3f} for `{labels[0]}`.",
        f"- Gap vs size: r = {corr['gap_vs_log2_params']['means']['r']:.3f} "
        f"(p = {corr['gap_vs_log2_params']['means']['p']:.3f}); source 0.958 (p = 0.010).",
        "",
        "## Leakage context (mean over targets)",
        "",
        md_table(
            ["attack", "advantage", "balanced acc", "MI (bits)", "Fano MI lower bound (bits)"],
            [
                [
                    a,
                    *[
                        float(np.mean([r[f"{k}_{a}"] for r in res["rows"]]))
                        for k in ("advantage", "balanced_accuracy", "mi_bits", "fano_mi_lower_bound_bits")
                    ],
                ]
                for a in labels
            ],
        ),
        "",
        "Plots: `auc_vs_width.png`, `auc_vs_gap.png`, `scores_<attack>.png`.",
        "",
    ]
    (out / "report.md").write_text("\n".join(lines))
    widths = [s["width"] for s in summary]
    series = {a: (widths, *[[s[f"auc_{a}"][k] for s in summary] for k in ("mean", "low", "high")]) for a in labels}
    if cfg["dataset"] == "gaussian":
        src_w = [w for w in widths if w in SOURCE["auc"]]
        m = [SOURCE["auc"][w][0] for w in src_w]
        sd = [SOURCE["auc"][w][1] for w in src_w]
        series["source (mean ± std)"] = (src_w, m, np.subtract(m, sd), np.add(m, sd))
    plot_errorbars(out / "auc_vs_width.png", series, "hidden width", "attack AUC", logx=True)
    gx = [s["gap"]["mean"] for s in summary]
    gerr = [
        [s["gap"]["mean"] - s["gap"]["low"] for s in summary],
        [s["gap"]["high"] - s["gap"]["mean"] for s in summary],
    ]
    plot_errorbars(
        out / "auc_vs_gap.png", {a: (gx, *series[a][1:], gerr) for a in labels}, "train − test accuracy", "attack AUC"
    )
    paths = [out / "results.json", out / "report.md", out / "auc_vs_width.png", out / "auc_vs_gap.png"]
    for a in labels:
        p = out / f"scores_{a}.png"
        plot_histograms(p, {f"width {w}": sc[a] for w, sc in res["_scores"].items()}, xlabel=f"{a} score")
        paths.append(p)
    return paths
