"""Validation on the public set, where the target's membership is real: what the board cannot give.

Each candidate (``tml.candidates``) is scored out of fold here (``out_of_fold``: folds stratified by
membership, a supervised candidate trained on the other folds), then validated: TPR@5%FPR under both the strict
``fpr < 0.05`` and the inclusive ``fpr <= 0.05`` rule, AUC, a bootstrap CI, the spread of the visible
board (the server scores a fixed 30% slice, so such slices are redrawn from the out-of-fold scores:
``simulate_leaderboard``), and the ranking of every candidate (``rank``: ``choose.ranking`` on the
out-of-fold scores, the ``choose.rules.Table`` the decision rules read). ``auto`` submits what the track's
rule picks (``DEFAULT_RULE`` unless ``recipe = { attack = "auto", rule = "..." }``), and its figure is
corrected for the choice by replaying that rule (``choose.rules.corrected_estimate``, BBC-CV).
"""

from __future__ import annotations

import numpy as np

from toolkit.choose.ranking import Scored
from toolkit.choose.ranking import rank as rank_scored
from toolkit.choose.rules import Pick, Table, apply_rule, combine, corrected_estimate, load_prior, named_rule
from toolkit.errors import ConfigError, ToolkitError
from toolkit.metrics import bootstrap_ci, roc, tpr_at_fpr
from toolkit.tml.board import FPR, INCLUSIVE, STRICT
from toolkit.tml.candidates import RowScorer, score_candidate

__all__ = [
    "AUTO",
    "DEFAULT_RULE",
    "SELECTION_TOP",
    "stratified_folds",
    "oof_candidate",
    "out_of_fold",
    "simulate_leaderboard",
    "validate",
    "rank",
    "rank_and_pick",
    "ranking_rows",
    "with_board",
]

# The top of the out-of-fold ranking: the task's first default, kept until benchmarks/selection.py --kind tml
# measures a rule with less regret on practice tasks of both editions.
DEFAULT_RULE = "best"
AUTO = "auto"  # recipe: rank every candidate on the public set, submit what the track's rule picks
SELECTION_TOP = 10  # candidates the resampled selections choose among (those ranked lower are never picked there)


def oof_candidate(cand: RowScorer, outs, folds: np.ndarray, seed: int = 0) -> np.ndarray | None:
    """Out-of-fold scores of the public set (fold id per public row); None if the candidate cannot run here."""
    pub = np.arange(outs.n_pub)
    try:
        if not cand.supervised:
            return score_candidate(cand, outs, pub, pub[:0], seed)
        out = np.empty(outs.n_pub)
        for f in np.unique(folds):
            out[folds == f] = score_candidate(cand, outs, pub[folds == f], pub[folds != f], seed)
        return out
    except ToolkitError:  # e.g. an attack that needs more references than there are
        return None


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


def out_of_fold(cands: list[RowScorer], outs, folds: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """{label: out-of-fold scores of the public set} of every candidate that runs here, in ``cands``' order."""
    oof = {}
    for cand in cands:
        s = oof_candidate(cand, outs, folds, seed)
        if s is not None and np.isfinite(s).all():
            oof[cand.label] = s
    return oof


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
    board = simulate_leaderboard(y, scores, n_sims=n_sims, seed=seed)
    fpr, tpr = roc(y, scores)
    strict = lambda yy, ss: tpr_at_fpr(*roc(yy, ss), FPR, strict=True)
    est, lo, hi = bootstrap_ci(y, scores, strict, n_boot=n_boot, seed=seed)
    return {
        STRICT: tpr_at_fpr(fpr, tpr, FPR, strict=True),
        INCLUSIVE: tpr_at_fpr(fpr, tpr, FPR, strict=False),
        "auc": float(roc_auc_score(y, scores)),
        "tpr_ci95": [lo, hi],
        "board_slice": board,
    }


def rank(cands, oof: dict[str, np.ndarray], membership, seed, n_boot, n_sims) -> tuple[Table, dict]:
    """(ranking, figures): the candidates with out-of-fold scores (``out_of_fold``) validated and
    ranked, best first (objective, then the candidates' order: each candidate's simplicity is its place in
    ``tml.candidates.candidates``). ``membership`` is the public set's."""
    pub_y = np.asarray(membership).astype(np.int64)
    figures = {label: validate(pub_y, s, n_boot=n_boot, n_sims=n_sims, seed=seed) for label, s in oof.items()}
    scored = [
        Scored(c.label, c.family, c.label, (order,), oof[c.label]) for order, c in enumerate(cands) if c.label in oof
    ]
    intervals = {label: f["tpr_ci95"] for label, f in figures.items()}  # the strict TPR's, as printed
    return rank_scored(scored, pub_y, fpr=FPR, n_boot=n_boot, seed=seed, intervals=intervals), figures


def rank_and_pick(cands, oof: dict, membership, attack: str, params: dict, seed: int, n_boot: int, n_sims: int):
    """(ranking rows, oof, figures, pick, corrected): every candidate ranked out-of-fold on the public set, and
    what is submitted: for ``auto`` the pick of the track's rule (``rule = "..."`` in its recipe, default
    ``DEFAULT_RULE``) with its figure corrected by replaying the rule; else the fixed recipe itself.

    A pick of several candidates (``rank_top3``) is entered in ``oof`` and ``figures`` under its label too.
    """
    table, figures = rank(cands, oof, membership, seed, n_boot, n_sims)
    rows, oof = ranking_rows(table, figures), dict(oof)
    if attack == AUTO:
        rule = named_rule(params, DEFAULT_RULE, ignored=("model",))  # --model reaches a fixed ensemble only
        prior = load_prior() if rule == "shrunk" else None
        pick, chosen_from = apply_rule(rule, table, prior=prior, n_boot=n_boot, seed=seed), table
    else:  # a fixed recipe was not chosen: only its own noise is resampled
        rule, prior, pick, chosen_from = "best", None, Pick("fixed", (attack,)), table.take([table.index(attack)])
    picked = combine([oof[label] for label in pick.labels], None, pick.combine)  # the pick's out-of-fold scores
    corrected = corrected_estimate(chosen_from, rule, prior=prior, top=SELECTION_TOP, n_boot=n_boot, seed=seed)
    if len(pick.labels) > 1:
        oof[pick.label()] = picked
        figures[pick.label()] = validate(table.y, picked, n_boot=n_boot, n_sims=n_sims, seed=seed)
    ranking = [{**row, "chosen": row["label"] in pick.labels} for row in rows]
    return ranking, oof, figures, pick, corrected


def ranking_rows(table: Table, figures: dict) -> list[dict]:
    """The manifest's ranking: each candidate's objective and its figures (strict TPR, CI, AUC), best first."""
    return [
        {
            "label": label,
            "family": family,
            "objective": float(objective),
            "tpr": figures[label][STRICT],
            "ci": figures[label]["tpr_ci95"],
            "auc": figures[label]["auc"],
        }
        for label, family, objective in zip(table.labels, table.families, table.objective)
    ]


def with_board(corrected: dict, figure: dict) -> dict:
    """The corrected estimate with the board slice expected around it: the slices' spread, shifted by the correction."""
    board, shift = figure["board_slice"], corrected["estimate"] - corrected["raw"]
    expected = {k: board[k] + shift for k in ("mean", "p5", "p95")} | {"std": board["std"]}
    return {**corrected, "board_slice": expected}
