"""recipe = "auto": per-target transforms (hand-computed), the simpler-within-CI rule, and the choice on a demo."""

from __future__ import annotations

import numpy as np
import pytest

from toolkit.choose.calibration import per_target
from toolkit.choose.candidates import Candidate
from toolkit.choose.ranking import Scored, rank
from toolkit.choose.rules import apply_rule
from toolkit.errors import ConfigError
from toolkit.mico.auto import DEFAULT_RULE, auto_rule, score_arrays_auto, select
from toolkit.mico.pipeline import Context
from toolkit.tracks import Recipe, load_track


def test_per_target_transforms_by_hand():
    s = np.array([3.0, 1.0, 2.0, 10.0, 30.0, 20.0])
    g = np.array([0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(per_target(s, g, "raw"), s)
    np.testing.assert_allclose(per_target(s, g, "rank"), [1.0, 0.0, 0.5, 0.0, 1.0, 0.5])
    z = np.sqrt(1.5)  # (x − mean)/std with std = sqrt(2/3) for {1, 2, 3}
    np.testing.assert_allclose(per_target(s, g, "zscore"), [z, -z, 0.0, -z, z, 0.0])
    with pytest.raises(ConfigError, match="valid: raw, rank, zscore"):
        per_target(s, g, "quantile")


def _cands(rng, n_models=20, per=50):
    """y, groups and three candidates: a strong learned one, a threshold as good, a weak hardness."""
    y = np.tile(np.r_[np.ones(per // 2), np.zeros(per // 2)], n_models).astype(np.int64)
    g = np.repeat(np.arange(n_models), per)
    signal = y + rng.normal(0, 1.0, len(y))
    return (
        y,
        g,
        {
            "ensemble": (Candidate(Recipe("ensemble")), signal + rng.normal(0, 0.05, len(y))),
            "threshold": (Candidate(Recipe("threshold")), signal),
            "hardness": (Candidate(Recipe("hardness")), rng.normal(0, 1.0, len(y))),
        },
    )


def _simplest(cands, y, g) -> str:
    table = rank([Scored(c.label(), c.family, c.base(), c.simplicity(), s) for c, s in cands.values()], y,
                 fpr=0.1, groups=g, n_boot=100, seed=0)  # fmt: skip
    assert list(table.objective) == sorted(table.objective, reverse=True)
    pick = apply_rule("simplest_in_ci", table, n_boot=100)
    assert pick.rule == "simplest_in_ci" and len(pick.labels) == 1
    return pick.labels[0]


def test_a_simpler_candidate_inside_the_ci_is_preferred_and_a_clear_loser_is_not():
    y, g, cands = _cands(np.random.default_rng(0))
    assert _simplest(cands, y, g) == "threshold"  # as good as the ensemble within the CI, and simpler
    del cands["threshold"]
    assert _simplest(cands, y, g) == "ensemble"  # hardness is at chance


def test_auto_rule_is_checked():
    assert auto_rule(Recipe("auto")) == DEFAULT_RULE
    assert auto_rule(Recipe("auto", {"rule": "rank_top3"})) == "rank_top3"
    with pytest.raises(ConfigError, match="unknown auto rule 'top'; valid: best, simplest_in_ci"):
        auto_rule(Recipe("auto", {"rule": "top"}))
    with pytest.raises(ConfigError, match="no parameter"):
        auto_rule(Recipe("auto", {"signal": "loss"}))


def test_select_on_the_demo_ranks_every_family_and_scores_with_its_choice(tiny_demo):
    ctx = Context(track=load_track("demo"), data_dir=tiny_demo, progress=False)
    sd = ctx.open(ctx.track.scenario("demo_inf"))
    paths = ctx.paths(sd)
    recipes = [
        Recipe("threshold", {"signal": "loss"}),
        Recipe("hardness", {"signal": "loss", "formula": "mid"}),
        Recipe("rmia"),
        Recipe("lira"),
    ]
    sel = select(sd, paths, recipes=recipes, n_boot=50)
    labels = [r["label"] for r in sel.ranking]
    assert len(labels) == 4 * 3 + 2 and "fusion" in labels  # every recipe × transform, and the two stackers
    assert "fusion(low-FPR weighted)" in labels
    chosen = [r["label"] for r in sel.ranking if r["chosen"]]
    assert chosen == list(sel.pick.labels) and sel.pick.rule == DEFAULT_RULE
    assert 1 <= len(chosen) <= 3 and len({sel.candidates[c].base() for c in chosen}) == len(chosen)  # distinct recipes
    y, s, g = sel.validation
    assert len(y) == len(s) == len(g) == 200 * len(sd.models["train"])
    arrays = sd.phase_arrays("final", paths)
    out = score_arrays_auto(sel, arrays)
    assert out.shape == (len(arrays.labels),) and np.isfinite(out).all()
