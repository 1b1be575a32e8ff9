"""Throughput of the calibration attacks: 100 references × 10,000 points, 10 classes, 1 view.

Prints seconds per attack variant and the speed-up over a per-point Python loop computing the same
formula, measured in the same run on a subset of points and extrapolated to all of them. The
quantile regressor has no per-point formula: its baseline is the per-point empirical OUT quantile it
replaces, and its LightGBM fit time is printed on a line of its own.

    python benchmarks/bench_attacks.py [--refs 100] [--points 10000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.stats import norm

from toolkit.attacks import run_attack
from toolkit.signals import confidence, loss, phi


def synthetic(n_ref: int, n_points: int, n_classes: int = 10, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n_points)
    hard = rng.normal(0, 1.5, n_points)
    keep = rng.random((n_ref + 1, n_points)) < 0.5
    z = rng.normal(0, 1, (n_ref + 1, n_points, 1, n_classes)).astype(np.float32)
    z[:, np.arange(n_points), 0, labels] += (2 + hard + 2 * keep + rng.normal(0, 0.5, keep.shape)).astype(np.float32)
    groups = np.repeat(np.arange(n_points // 200 + 1), 200)[:n_points]
    return z[0], labels, z[1:], keep[1:], groups


def loop_lira(s, r, keep, idx):
    """Per-point reference implementation (online, per-point variance)."""
    out = []
    for j in idx:
        i, o = r[keep[:, j], j], r[~keep[:, j], j]
        out.append(norm.logpdf(s[j], np.median(i), i.std()) - norm.logpdf(s[j], np.median(o), o.std()))
    return out


def loop_hardness(s, r, keep, idx):
    return [s[j] - r[keep[:, j], j].mean() for j in idx]


def loop_pr_x(rp, keep, a=0.3):
    """Offline Pr(x) point by point."""
    return 0.5 * ((1 + a) * np.array([rp[~keep[:, j], j].mean() for j in range(rp.shape[1])]) + (1 - a))


def loop_rmia_counts(ratio, groups, idx, gamma=2.0):
    return [np.mean(ratio[j] / ratio[groups == groups[j]] >= gamma) for j in idx]


def loop_base(lp, lr, keep, idx):
    """BASE online, point by point: log p_y − log mean_k p_y^k (tempered log-probabilities given)."""
    return [lp[j] - np.log(np.mean(np.exp(lr[:, j]))) for j in idx]


def loop_bavaria(s, r, keep, idx, prior):
    """BaVarIA-t online, point by point: the NIG update and a Student-t log density per side."""
    from scipy.stats import t as student_t

    mu0, k0, a0, b0 = prior
    out = []
    for j in idx:
        logp = []
        for xs in (r[keep[:, j], j], r[~keep[:, j], j]):
            n, xbar = len(xs), xs.mean()
            kn, an = k0 + n, a0 + n / 2
            bn = b0 + ((xs - xbar) ** 2).sum() / 2 + k0 * n * (xbar - mu0) ** 2 / (2 * kn)
            logp.append(student_t.logpdf(s[j], 2 * an, (k0 * mu0 + n * xbar) / kn, np.sqrt(bn * (kn + 1) / (an * kn))))
        out.append(logp[0] - logp[1])
    return out


def loop_informia(log_ratio, pr, groups, idx):
    """InfoRMIA, point by point: log r(x) minus the Pr(z)-weighted mean of log r(z) over x's target."""
    out = []
    for j in idx:
        g = groups == groups[j]
        out.append(log_ratio[j] - np.sum(pr[g] * log_ratio[g]) / np.sum(pr[g]))
    return out


def loop_out_quantile(r, keep, idx, level=0.9):
    """What the quantile regressor replaces: each point's empirical OUT quantile, point by point."""
    return [np.quantile(r[~keep[:, j], j], level) for j in idx]


def timed(fn, *args, **kw):
    t = time.perf_counter()
    fn(*args, **kw)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--refs", type=int, default=100)
    ap.add_argument("--points", type=int, default=10_000)
    ap.add_argument("--loop-points", type=int, default=500)
    args = ap.parse_args()
    target, labels, ref, keep, groups = synthetic(args.refs, args.points)
    idx = np.arange(min(args.loop_points, args.points))
    scale = args.points / len(idx)
    s, r = phi(target, labels)[:, 0], phi(ref, labels)[..., 0]
    base = {
        "lira": scale * timed(loop_lira, s, r, keep, idx),
        "hardness": scale * timed(loop_hardness, -loss(target, labels)[:, 0], -loss(ref, labels)[..., 0], keep, idx),
    }
    # RMIA's loop: Pr(x) of every point (each pair needs it), then one comparison pass per point
    p, rp = confidence(target, labels)[:, 0], confidence(ref, labels)[..., 0]
    t0 = time.perf_counter()
    ratio = p / loop_pr_x(rp, keep)
    base["rmia"] = time.perf_counter() - t0 + scale * timed(loop_rmia_counts, ratio, groups, idx)
    from toolkit.attacks.base import base_scores, log_true_class_prob
    from toolkit.attacks.bavaria import bavaria_scores, fit_prior, side_stats
    from toolkit.attacks.informia import log2_ratio, population_correction
    from toolkit.attacks.quantile import fit_quantile, point_features, quantile_threshold, training_rows
    from toolkit.attacks.rmia import reference_prob

    lp, lr = log_true_class_prob(target, labels), log_true_class_prob(ref, labels)
    base["base"] = scale * timed(loop_base, lp, lr, keep, idx)
    stats = [side_stats(r[..., None], k) for k in (keep, ~keep)]
    prior = fit_prior(*[np.concatenate([a, b]) for a, b in zip(*stats)])
    base["bavaria"] = scale * timed(loop_bavaria, s, r, keep, idx, prior)
    pr_on = reference_prob(rp, keep, offline=True)
    lr2 = log2_ratio(p, pr_on)
    base["informia"] = scale * timed(loop_informia, lr2, pr_on, groups, idx)
    base["quantile"] = scale * timed(loop_out_quantile, r, keep, idx)
    from toolkit.attacks.hardness import calibrate
    from toolkit.attacks.lira import lira_scores
    from toolkit.attacks.rmia import pairwise_quantile, reference_prob

    sig = {"phi": (s, r), "loss": (-loss(target, labels)[:, 0], -loss(ref, labels)[..., 0])}

    def rmia_formula(offline):
        pr = reference_prob(rp, keep, offline=offline)
        return pairwise_quantile(np.log(p) - np.log(pr), groups, 2.0)

    own, total = point_features(ref, labels)
    qx, qk, qj = training_rows(own, total, labels, keep, 50_000, np.random.default_rng(0))
    qy, q_target = r[qk, qj], np.column_stack([labels, total / len(ref)])
    fit_s = []

    def quantile_formula():
        t = time.perf_counter()
        model = fit_quantile(qx, qy, 0.9)
        fit_s.append(time.perf_counter() - t)
        return s - quantile_threshold(model, q_target)

    variants = [
        ("lira", {}, lambda: lira_scores(s[:, None], r[..., None], keep)),
        ("lira", {"fix_variance": False}, lambda: lira_scores(s[:, None], r[..., None], keep, fix_variance=False)),
        ("lira", {"online": False}, lambda: lira_scores(s[:, None], r[..., None], keep, online=False)),
        (
            "lira",
            {"online": False, "two_sided": True},
            lambda: lira_scores(s[:, None], r[..., None], keep, online=False, two_sided=True),
        ),
        ("rmia", {}, lambda: rmia_formula(True)),
        ("rmia", {"offline": False}, lambda: rmia_formula(False)),
        ("hardness", {"formula": "in"}, lambda: calibrate(*sig["loss"], keep, "in")),
        ("hardness", {"formula": "z"}, lambda: calibrate(*sig["loss"], keep, "z")),
        ("base", {}, lambda: base_scores(lp, lr, keep)),
        ("base", {"online": False}, lambda: base_scores(lp, lr, keep, online=False)),
        ("bavaria", {}, lambda: bavaria_scores(s[:, None], r[..., None], keep)),
        (
            "bavaria",
            {"variant": "n", "online": False},
            lambda: bavaria_scores(s[:, None], r[..., None], keep, variant="n", online=False),
        ),
        ("informia", {}, lambda: lr2 - population_correction(lr2, pr_on, groups)),
        ("quantile", {}, lambda: quantile_formula()),
    ]
    print(
        f"{args.refs} references x {args.points} points, 10 classes; loop baseline over {len(idx)} points, "
        f"extrapolated; signal of all reference logits alone: {timed(phi, ref, labels):.3f} s"
    )
    print(f"{'attack':36s} {'logits s':>9s} {'formula s':>10s} {'loop s':>8s} {'speed-up':>9s}")
    for name, params, formula in variants:
        full = min(timed(run_attack, name, target, labels, ref, keep, groups=groups, **params) for _ in range(3))
        inner = min(timed(formula) for _ in range(3))
        b = base[name]
        label = name + "(" + ",".join(f"{k}={v}" for k, v in params.items()) + ")"
        print(f"{label:36s} {full:9.3f} {inner:10.4f} {b:8.2f} {b / inner:8.0f}x")
    print(
        f"quantile regressor: LightGBM fit {min(fit_s):.3f} s on {len(qy)} OUT rows x {qx.shape[1]} features "
        f"(150 trees, 1 thread); the features of all reference logits: {timed(point_features, ref, labels):.3f} s"
    )


if __name__ == "__main__":
    main()
