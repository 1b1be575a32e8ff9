"""The selection-corrected estimate (BBC-CV): picking the best of many noisy figures inflates it; the bootstrap
of the whole selection, scored on the rows each resample left out, takes the inflation back."""

from __future__ import annotations

import numpy as np

from toolkit.metrics import objective_value, pick_best, selection_corrected


def _labels(n: int) -> np.ndarray:
    return np.r_[np.ones(n // 2), np.zeros(n - n // 2)].astype(np.int64)


def test_the_best_of_many_coins_is_corrected_back_to_chance():
    """30 candidates that know nothing: the best one's figure is luck; at 5% FPR chance is TPR 0.05."""
    rng = np.random.default_rng(0)
    y = _labels(600)
    scores = rng.random((30, 600))
    got = selection_corrected(y, scores, pick_best(0.05), fpr_x=0.05, n_boot=100, seed=1)
    assert got["raw"] > 0.085  # the best of 30 coins looks like an attack (0.05 is chance)
    assert abs(got["estimate"] - 0.05) < 0.025 and got["ci"][0] < 0.05 < got["ci"][1]
    assert got["candidates"] == 30 and got["n_boot"] == 100


def test_one_candidate_is_not_corrected_beyond_its_noise():
    rng = np.random.default_rng(2)
    y = _labels(2000)
    s = y * 1.0 + rng.normal(0, 1.0, 2000)
    raw = objective_value(y, s, 0.05)[1]
    got = selection_corrected(y, s[None], pick_best(0.05), fpr_x=0.05, n_boot=100, seed=3)
    assert got["raw"] == raw and abs(got["estimate"] - raw) < 0.03 and got["ci"][0] < raw < got["ci"][1]


def test_a_clear_winner_keeps_its_figure_and_noise_around_it_does_not_matter():
    rng = np.random.default_rng(4)
    y = _labels(2000)
    strong = y * 2.0 + rng.normal(0, 1.0, 2000)
    scores = np.vstack([strong, rng.random((20, 2000))])
    alone = selection_corrected(y, strong[None], pick_best(0.05), fpr_x=0.05, n_boot=60, seed=5)
    crowd = selection_corrected(y, scores, pick_best(0.05), fpr_x=0.05, n_boot=60, seed=5)
    assert abs(crowd["estimate"] - alone["estimate"]) < 1e-12  # the same resamples, the same pick each time


def test_groups_are_resampled_whole():
    """Pooled scores of several target models: a resample draws whole models, so the selection sees them whole."""
    rng = np.random.default_rng(6)
    y = np.tile(_labels(10), 8)
    g = np.repeat(np.arange(8), 10)
    scores = rng.random((3, 80))
    seen = []

    def pick(yy, ss, gg):
        seen.append(np.bincount(gg, minlength=8))
        return pick_best(0.1)(yy, ss, gg)

    selection_corrected(y, scores, pick, fpr_x=0.1, groups=g, n_boot=20, seed=7)
    assert len(seen) > 1 and all((c % 10 == 0).all() for c in seen[1:])
