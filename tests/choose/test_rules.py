"""auto's decision rules on hand-made validation tables: each rule's pick, the shrinkage and the prior by hand."""

from __future__ import annotations

import numpy as np
import pytest

from toolkit.choose.calibration import combine
from toolkit.choose.rules import FUSION, FUSION_LOWFPR, RULES, Prior, Table, apply_rule, fit_prior
from toolkit.errors import ConfigError


def _table(objective, ci, families, *, labels=None, recipes=None, simplicity=None, dp=False, scores=None):
    k = len(objective)
    labels = labels or [f"c{i}" for i in range(k)]
    return Table(
        labels=tuple(labels),
        families=tuple(families),
        recipes=tuple(recipes or labels),
        simplicity=tuple(simplicity or [(i, 0) for i in range(k)]),
        scores=np.zeros((k, 4)) if scores is None else np.asarray(scores, dtype=np.float64),
        y=np.array([1, 0, 1, 0]),
        groups=np.array([0, 0, 1, 1]),
        objective=np.asarray(objective, dtype=np.float64),
        ci=np.asarray(ci, dtype=np.float64),
        fpr=0.1,
        dp=dp,
    )


def test_best_takes_the_top_figure_and_ties_go_to_the_simpler():
    t = _table([0.30, 0.40, 0.40], [[0, 1]] * 3, ["a", "b", "c"], simplicity=[(0, 0), (5, 0), (2, 0)])
    assert apply_rule("best", t).labels == ("c2",)


def test_shrunk_by_hand():
    # d = objective − best = [0, −0.02]; se from the CI: (hi − lo) / (2·1.96)
    se = np.array([0.04, 0.01])
    ci = np.column_stack([-1.959964 * se, 1.959964 * se])
    t = _table([0.50, 0.48], ci, ["lira", "hardness"], dp=True)
    prior = Prior({(True, "lira"): -0.05, (True, "hardness"): 0.0}, {True: 0.0004})
    # lira: (4e-4·0 + 16e-4·(−0.05)) / (4e-4 + 16e-4) = −0.04; hardness: (4e-4·(−0.02) + 1e-4·0) / 5e-4 = −0.016
    pick = apply_rule("shrunk", t, prior=prior)
    assert pick.labels == ("c1",) and "0.4840" in pick.note  # −0.016 + the best figure 0.50
    # without a prior (or for a family the prior has not seen) the figure stands as it is
    assert apply_rule("shrunk", t).labels == ("c0",)
    assert apply_rule("shrunk", t, prior=Prior({}, {True: 0.0004})).labels == ("c0",)


def test_rank_top_k_takes_distinct_recipes_and_skips_the_stackers():
    labels = ["lira", "lira [rank]", FUSION, "rmia", "base", "hardness"]
    recipes = ["lira", "lira", FUSION, "rmia", "base", "hardness"]
    fams = ["lira", "lira", FUSION, "rmia", "base", "hardness"]
    t = _table([0.6, 0.59, 0.7, 0.5, 0.4, 0.3], [[0, 1]] * 6, fams, labels=labels, recipes=recipes)
    top3 = apply_rule("rank_top3", t)
    assert top3.labels == ("lira", "rmia", "base") and top3.combine == "rank_mean"
    assert apply_rule("rank_top5", t).labels == ("lira", "rmia", "base", "hardness")  # only four recipes


def test_combine_by_hand():
    g = np.array([0, 0, 0, 1, 1, 1])
    a = np.array([3.0, 1.0, 2.0, 10.0, 30.0, 20.0])  # ranks within target: [1, 0, .5], [0, 1, .5]
    b = np.array([1.0, 2.0, 3.0, 3.0, 2.0, 1.0])  # ranks: [0, .5, 1], [1, .5, 0]
    np.testing.assert_allclose(combine([a, b], g, "rank_mean"), [0.5, 0.25, 0.75, 0.5, 0.75, 0.25])
    np.testing.assert_array_equal(combine([a], g, "one"), a)
    with pytest.raises(ConfigError, match="valid: one, rank_mean"):
        combine([a], g, "max")


def test_the_stacker_rules_fall_back_to_the_best_without_a_stacker():
    t = _table([0.3, 0.5], [[0, 1]] * 2, ["a", FUSION], labels=["a", FUSION_LOWFPR])
    assert apply_rule("fusion_lowfpr", t).labels == (FUSION_LOWFPR,)
    fallback = apply_rule("fusion", t)
    assert fallback.labels == (FUSION_LOWFPR,) and "could not be fitted" in fallback.note


def test_fit_prior_by_hand():
    ci = [[0.0, 0.0]] * 2  # se floored to 1e-6: the noise term is ~0
    t1 = _table([0.5, 0.4], ci, ["lira", "hardness"], dp=True)  # d = [0, −0.1]
    t2 = _table([0.3, 0.3], ci, ["lira", "hardness"], dp=True)  # d = [0, 0]
    t3 = _table([0.6, 0.5], ci, ["lira", "hardness"])  # no DP: its own class
    prior = fit_prior([t1, t2, t3])
    assert prior.means[(True, "lira")] == 0.0 and prior.means[(True, "hardness")] == pytest.approx(-0.05)
    assert prior.means[(False, "hardness")] == pytest.approx(-0.1)
    # DP residuals [0, −0.05, 0, 0.05]: variance 0.00125
    assert prior.tau2[True] == pytest.approx(0.00125, rel=1e-6)
    assert prior.tau2[False] == pytest.approx(1e-4)  # a single archive: floored
    again = Prior.from_dict(prior.as_dict())
    assert again == prior


def test_unknown_rule_and_bad_prior_are_one_line_errors():
    t = _table([0.3], [[0, 1]], ["a"])
    with pytest.raises(ConfigError, match="unknown auto rule 'top'; valid: " + ", ".join(RULES)):
        apply_rule("top", t)
    with pytest.raises(ConfigError, match="not a"):
        Prior.from_dict({"means": [{"dp": True}]})


def test_the_shipped_prior_covers_both_privacy_classes():
    from toolkit.choose.rules import load_prior

    prior = load_prior()
    assert prior is not None and set(prior.tau2) == {False, True}
    assert {f for dp, f in prior.means if dp} >= {"hardness", "lira", "rmia"}
    assert all(v <= 0 for v in prior.means.values())  # relative to each scenario's best figure


@pytest.mark.parametrize("rule", ["best", "rank_top3"])
def test_corrected_estimate_replays_the_rule_on_resampled_targets(rule):
    """Twelve coin candidates over 30 target models: the validation figure of the pick is luck, the corrected one
    is back near chance (TPR 0.1 at 10% FPR); the replayed rule picks on the whole split what it picked as run."""
    from toolkit.choose.rules import corrected_estimate
    from toolkit.metrics import objective_value

    rng = np.random.default_rng(0)
    y = np.tile(np.r_[np.ones(10), np.zeros(10)].astype(np.int64), 30)
    g = np.repeat(np.arange(30), 20)
    scores = rng.random((12, len(y)))
    objective = np.array([objective_value(y, s, 0.1)[0] for s in scores])
    table = Table(
        labels=tuple(f"c{i}" for i in range(12)), families=("lira",) * 12, recipes=tuple(f"r{i}" for i in range(12)),
        simplicity=tuple((0, i) for i in range(12)), scores=scores, y=y, groups=g, objective=objective,
        ci=np.tile([0.0, 0.2], (12, 1)), fpr=0.1, dp=False,
    )  # fmt: skip
    pick = apply_rule(rule, table)
    picked = combine([scores[table.index(label)] for label in pick.labels], g, pick.combine)
    got = corrected_estimate(table, rule, n_boot=60, seed=1)
    assert got["raw"] == objective_value(y, picked, 0.1)[1]
    assert abs(got["estimate"] - 0.1) < 0.03 and got["ci"][0] < 0.1 < got["ci"][1]
    if rule == "best":  # the best of twelve coins looks better than a coin; a rank mean of three does not
        assert got["raw"] > got["estimate"] + 0.03
