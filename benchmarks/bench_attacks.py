"""Throughput of the calibration attacks: 100 references × 10,000 points, 10 classes, 1 view.

Prints seconds per attack variant and the speed-up over a per-point Python loop computing the same
formula, measured in the same run on a subset of points and extrapolated to all of them.

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
    from toolkit.attacks.hardness import calibrate
    from toolkit.attacks.lira import lira_scores
    from toolkit.attacks.rmia import pairwise_quantile, reference_prob

    sig = {"phi": (s, r), "loss": (-loss(target, labels)[:, 0], -loss(ref, labels)[..., 0])}

    def rmia_formula(offline):
        pr = reference_prob(rp, keep, offline=offline)
        return pairwise_quantile(np.log(p) - np.log(pr), groups, 2.0)

    variants = [
        ("lira", {}, lambda: lira_scores(s[:, None], r[..., None], keep)),
        ("lira", {"fix_variance": False}, lambda: lira_scores(s[:, None], r[..., None], keep, fix_variance=False)),
        ("lira", {"online": False}, lambda: lira_scores(s[:, None], r[..., None], keep, online=False)),
        ("lira", {"online": False, "two_sided": True},
         lambda: lira_scores(s[:, None], r[..., None], keep, online=False, two_sided=True)),
        ("rmia", {}, lambda: rmia_formula(True)),
        ("rmia", {"offline": False}, lambda: rmia_formula(False)),
        ("hardness", {"formula": "in"}, lambda: calibrate(*sig["loss"], keep, "in")),
        ("hardness", {"formula": "z"}, lambda: calibrate(*sig["loss"], keep, "z")),
    ]
    print(f"{args.refs} references x {args.points} points, 10 classes; loop baseline over {len(idx)} points, "
          f"extrapolated; signal of all reference logits alone: {timed(phi, ref, labels):.3f} s")
    print(f"{'attack':36s} {'logits s':>9s} {'formula s':>10s} {'loop s':>8s} {'speed-up':>9s}")
    for name, params, formula in variants:
        full = min(timed(run_attack, name, target, labels, ref, keep, groups=groups, **params) for _ in range(3))
        inner = min(timed(formula) for _ in range(3))
        b = base[name]
        label = name + "(" + ",".join(f"{k}={v}" for k, v in params.items()) + ")"
        print(f"{label:36s} {full:9.3f} {inner:10.4f} {b:8.2f} {b / inner:8.0f}x")


if __name__ == "__main__":
    main()
