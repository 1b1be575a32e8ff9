"""Every attack the ResNet18 task can submit, each scored out-of-fold on the public set.

The public set's membership is real for the target, so it ranks candidates on the very model
that is scored. A candidate is one of:

- a **registered attack** with its known-good variants (``attacks.variants``): the loss and
  modified-entropy thresholds, hardness, LiRA (online/offline, fixed/per-point variance), RMIA,
  BASE, BaVarIA, InfoRMIA, quantile regression on the shadows' OUT rows, Shokri's shadow
  classifier. These never read the target's membership, so the whole public set is scored at once.
- **quantile regression on the public non-members** (Bertran et al., NeurIPS 2023, in its
  original setting): the target's φ minus its predicted 95% quantile among non-members, fitted
  on the training folds' non-members from the label and the shadows' statistics of the point.
- **supervised stackers** (the course's best public reports): a classifier on the target's
  output features, trained on the training folds' membership, with the original view only or all
  query views, and with the reference attacks' scores as extra features when shadows exist.
- **fusion**: a logistic regression over the reference attacks' scores and a few output features,
  refitted with the rows in the low-FPR region (scores above the non-members' 90th percentile)
  weighted up, since only that region moves TPR at 5% FPR.

Supervised candidates are trained on k − 1 folds and score the held-out fold; for the private
set they are trained on the whole public set.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from toolkit.attacks import attack_params, run_attack
from toolkit.attacks.registry import attack_spec
from toolkit.attacks.variants import default_recipes, stacker_recipes
from toolkit.choose.fusion import fit_fusion
from toolkit.choose.rules import FUSION, FUSION_LOWFPR
from toolkit.tracks import Recipe

__all__ = [
    "RowScorer",
    "candidates",
    "recipe_candidate",
    "score_candidate",
]

TRAIN_ARGS = ("train_logits", "train_labels", "train_membership")
_OWN_CANDIDATES = ("ensemble",)  # the registered supervised attack is replaced by the stackers below
QUANTILE_LEVEL = 0.95  # 1 − the board's FPR
LOW_FPR = 0.1  # fusion up-weights the rows above the non-members' 90th percentile


@dataclass(frozen=True)
class RowScorer:
    """One candidate of the task, a named way to score its rows: ``fit_score(outs, rows, train_rows, seed)``;
    supervised ones read ``train_rows``. (``choose.candidates.Candidate`` is MICO's: a recipe under a transform.)"""

    label: str
    family: str
    supervised: bool
    fit_score: Callable


def recipe_candidate(recipe: Recipe) -> RowScorer:
    """A registered attack as a candidate; one that takes a labelled training set gets the training rows'."""
    supervised = set(TRAIN_ARGS) <= set(attack_params(recipe.attack))

    def fit_score(outs, rows, train_rows, seed):
        extra = {}
        if supervised:
            extra = {
                "train_logits": outs.target[train_rows],
                "train_labels": outs.labels[train_rows],
                "train_membership": outs.membership[train_rows].astype(np.int64),
            }
        return run_attack(
            recipe.attack,
            outs.target[rows],
            outs.labels[rows],
            outs.ref[:, rows],
            outs.keep[:, rows],
            seed=seed,
            **dict(recipe.params),
            **extra,
        )

    return RowScorer(recipe.label(), recipe.attack, supervised, fit_score)


def _reference_scores(outs, rows, seed) -> np.ndarray:
    """[len(rows), n_features]: the scores of the attacks registered as stacker features (``stacker_recipes``:
    cheap, and each strong somewhere), ranked to [0, 1] per column."""
    from scipy.stats import rankdata

    cols = [recipe_candidate(r).fit_score(outs, rows, None, seed) for r in stacker_recipes()]
    return np.column_stack([rankdata(c) / len(c) for c in cols])


def _features(outs, rows, views: str, refs: bool, seed: int) -> np.ndarray:
    from toolkit.attacks.features import output_features

    logits = outs.target[rows] if views == "all" else outs.target[rows][:, :1]
    x, _ = output_features(logits, outs.labels[rows])
    return np.hstack([x, _reference_scores(outs, rows, seed)]) if refs else x


def _stacker(model: str, views: str, refs: bool) -> RowScorer:
    def fit_score(outs, rows, train_rows, seed):
        from toolkit.attacks.ensemble import fit_predict, make_classifier

        both = np.concatenate([train_rows, rows])
        x = _features(outs, both, views, refs, seed)
        y = outs.membership[train_rows].astype(np.int64)
        folds = np.random.default_rng(seed).integers(0, 3, len(y))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MLP convergence, LightGBM feature-name chatter
            return fit_predict(
                model, x[: len(train_rows)], y, folds, x[len(train_rows) :], lambda k: make_classifier(k, seed)
            )

    label = f"stack(model={model},views={views}" + (",refs=yes)" if refs else ")")
    return RowScorer(label, "stack", True, fit_score)


def _fusion() -> RowScorer:
    def fit_score(outs, rows, train_rows, seed):
        from toolkit.attacks.features import output_features

        both = np.concatenate([train_rows, rows])
        feats, names = output_features(outs.target[both], outs.labels[both])
        keep = [names.index(n) for n in ("loss", "phi", "logit_margin", "entropy")]
        x = np.hstack([feats[:, keep], _reference_scores(outs, both, seed)])
        y = outs.membership[train_rows].astype(np.int64)
        return fit_fusion(x[: len(train_rows)], y, seed, FUSION_LOWFPR, LOW_FPR).decision_function(x[len(train_rows) :])

    return RowScorer(FUSION_LOWFPR, FUSION, True, fit_score)


def _quantile_public() -> RowScorer:
    def fit_score(outs, rows, train_rows, seed):
        from toolkit.attacks.quantile import fit_quantile, point_features, quantile_threshold
        from toolkit.signals import phi

        def x_of(r):
            extra = point_features(outs.ref[:, r], outs.labels[r])[1] / len(outs.ref) if len(outs.ref) else None
            return np.column_stack([outs.labels[r]] + ([] if extra is None else [extra]))

        non = train_rows[outs.membership[train_rows] == 0]
        s_non = phi(outs.target[non], outs.labels[non]).mean(-1)
        model = fit_quantile(x_of(non), s_non, QUANTILE_LEVEL, seed=seed)
        return phi(outs.target[rows], outs.labels[rows]).mean(-1) - quantile_threshold(model, x_of(rows))

    return RowScorer(f"quantile(public non-members, level={QUANTILE_LEVEL})", "quantile", True, fit_score)


def candidates(has_shadows: bool, n_views: int) -> list[RowScorer]:
    """Every candidate this task can run: reference attacks only with shadows, view variants only with views."""
    out = [
        recipe_candidate(r)
        for r in default_recipes()
        if r.attack not in _OWN_CANDIDATES and (has_shadows or not attack_spec(r.attack).needs_references)
    ]
    out.append(_quantile_public())
    view_sets = ("orig", "all") if n_views > 1 else ("orig",)
    out += [_stacker(m, v, False) for m in ("mlp", "lgbm") for v in view_sets]
    if has_shadows:
        out += [_stacker("lgbm", view_sets[-1], True), _fusion()]
    return out


def score_candidate(cand: RowScorer, outs, rows: np.ndarray, train_rows: np.ndarray, seed: int = 0) -> np.ndarray:
    """float64 scores of ``rows``; a supervised candidate is trained on ``train_rows``."""
    return np.asarray(cand.fit_score(outs, np.asarray(rows), np.asarray(train_rows), seed), dtype=np.float64)
