"""Validation on the public set, where the target's membership is real: what the board cannot give.

Out-of-fold scores on stratified folds (``stratified_folds``), TPR@5%FPR under both the strict
``fpr < 0.05`` and the inclusive ``fpr <= 0.05`` rule, AUC, a bootstrap CI, the spread of the visible
board (the server scores a fixed 30% slice, so such slices are redrawn from the out-of-fold scores:
``simulate_leaderboard``), the ranking of every candidate (``rank``), and the submitted figure
corrected for having picked the best of many (``corrected_estimate``, BBC-CV).
"""

from __future__ import annotations

import numpy as np

from toolkit.errors import ConfigError
from toolkit.metrics import bootstrap_ci, objective_value, pick_best, roc, selection_corrected, tpr_at_fpr
from toolkit.tml.board import FPR, INCLUSIVE, STRICT
from toolkit.tml.candidates import oof_candidate

__all__ = ["stratified_folds", "simulate_leaderboard", "validate", "rank", "corrected_estimate", "with_board"]


def stratified_folds(membership: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Fold id [n] in 0..k−1 with members and non-members spread evenly over the folds."""
    if k < 2:
        raise ConfigError(f"need at least 2 folds, got {k}")
    rng = np.random.default_rng(seed)
    folds = np.empty(len(membership), dtype=np.int64)
    for value in np.unique(membership):
        rows = rng.permutation(np.flatnonzero(membership == value))
        folds[rows] = np.arange(len(rows)) % k
    return folds


def simulate_leaderboard(labels, scores, *, frac: float = 0.3, n_sims: int = 200, seed: int = 0) -> dict:
    """TPR@5%FPR on random slices of ``frac`` of each class (the board's 3,000 + 3,000 of 10,000 + 10,000).

    Returns mean, std, 5th and 95th percentiles over ``n_sims`` slices (strict rule).
    """
    y = np.asarray(labels).astype(np.int64)
    s = np.asarray(scores, dtype=np.float64)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    m = max(1, int(round(frac * min(len(pos), len(neg)))))
    rng = np.random.default_rng(seed)
    vals = np.empty(n_sims)
    for i in range(n_sims):  # one ROC per simulated slice; each is vectorised
        rows = np.concatenate([rng.choice(pos, m, replace=False), rng.choice(neg, m, replace=False)])
        vals[i] = tpr_at_fpr(*roc(y[rows], s[rows]), FPR, strict=True)
    p5, p95 = np.percentile(vals, [5, 95])
    return {
        "per_class": m,
        "n_sims": n_sims,
        "mean": float(vals.mean()),
        "std": float(vals.std()),
        "p5": float(p5),
        "p95": float(p95),
    }


def validate(membership, scores, *, n_boot: int = 200, n_sims: int = 200, seed: int = 0) -> dict:
    """TPR@5%FPR (strict and inclusive), AUC, bootstrap CI and board-slice spread of ``scores``."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(membership).astype(np.int64)
    fpr, tpr = roc(y, scores)
    strict = lambda yy, ss: tpr_at_fpr(*roc(yy, ss), FPR, strict=True)
    est, lo, hi = bootstrap_ci(y, scores, strict, n_boot=n_boot, seed=seed)
    return {
        STRICT: tpr_at_fpr(fpr, tpr, FPR, strict=True),
        INCLUSIVE: tpr_at_fpr(fpr, tpr, FPR, strict=False),
        "auc": float(roc_auc_score(y, scores)),
        "tpr_ci95": [lo, hi],
        "board_slice": simulate_leaderboard(y, scores, n_sims=n_sims, seed=seed),
    }


def rank(cands, outs, folds, seed, n_boot, n_sims) -> tuple[list[dict], dict, dict]:
    """Out-of-fold scores and figures of every candidate that runs here, best first (objective, then order)."""
    pub_y = outs.membership[: outs.n_pub].astype(np.int64)
    rows, oof, figures = [], {}, {}
    for order, cand in enumerate(cands):
        s = oof_candidate(cand, outs, folds, seed)
        if s is None or not np.isfinite(s).all():
            continue
        oof[cand.label] = s
        figures[cand.label] = validate(pub_y, s, n_boot=n_boot, n_sims=n_sims, seed=seed)
        obj = objective_value(pub_y, s, FPR)[0]
        rows.append({"label": cand.label, "family": cand.family, "objective": obj, "order": order})
    rows.sort(key=lambda r: (-r["objective"], r["order"]))
    for r in rows:
        f = figures[r["label"]]
        r.update(tpr=f[STRICT], ci=f["tpr_ci95"], auc=f["auc"])
        del r["order"]
    return rows, oof, figures


SELECTION_TOP = 10  # candidates the resampled selections choose among (those ranked lower are never picked there)


def corrected_estimate(pub_y, ranking: list[dict], oof: dict, chosen: str, auto: bool, n_boot: int, seed: int) -> dict:
    """The submitted candidate's figure corrected for the choice (``metrics.selection_corrected``, BBC-CV).

    ``auto`` re-runs "the best out-of-fold objective" among the first ``SELECTION_TOP`` candidates in
    every resample; a fixed recipe was not chosen, so only its own noise is resampled. The board's
    30% slice is then expected around the corrected figure, with the slices' spread.
    """
    labels = [r["label"] for r in ranking[:SELECTION_TOP]] if auto else [chosen]
    scores = np.stack([oof[label] for label in labels])
    return selection_corrected(pub_y, scores, pick_best(FPR), fpr_x=FPR, n_boot=n_boot, seed=seed)


def with_board(corrected: dict, figure: dict) -> dict:
    """The corrected estimate with the board slice expected around it: the slices' spread, shifted by the correction."""
    board, shift = figure["board_slice"], corrected["estimate"] - corrected["raw"]
    expected = {k: board[k] + shift for k in ("mean", "p5", "p95")} | {"std": board["std"]}
    return {**corrected, "board_slice": expected}
