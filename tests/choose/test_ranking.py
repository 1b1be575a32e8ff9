"""The one ranking both kinds call, a rule named by a recipe, and tables of one target (the ResNet18 task)."""

from __future__ import annotations

import numpy as np
import pytest

from toolkit.choose.calibration import combine
from toolkit.choose.ranking import Scored, rank
from toolkit.choose.rules import RULES, apply_rule, corrected_estimate, named_rule
from toolkit.errors import ConfigError
from toolkit.metrics import objective_value

Y = np.array([1, 1, 0, 0, 1, 0], dtype=np.int64)


def _scored(label, scores, simplicity=(0,), family="lira"):
    return Scored(label, family, label, simplicity, np.asarray(scores, dtype=np.float64))


def test_rank_orders_by_objective_then_simplicity_then_the_order_given():
    perfect = [0.9, 0.8, 0.1, 0.2, 0.7, 0.3]
    table = rank(
        [
            _scored("weak", [0.1, 0.2, 0.9, 0.8, 0.3, 0.7]),
            _scored("late", perfect, (2,)),
            _scored("simple", perfect, (1,)),
            _scored("same", perfect, (1,)),  # as simple as "simple", given after it
        ],
        Y,
        fpr=0.5,
        n_boot=20,
    )
    assert table.labels == ("simple", "same", "late", "weak")
    assert table.objective[0] == objective_value(Y, np.array(perfect), 0.5)[0] == 1.0 + 1e-3
    assert table.tpr[0] == 1.0 and table.auc[0] == 1.0 and table.tpr[-1] == 0.0
    assert table.groups is None and table.ci.shape == (4, 2) and table.ci[-1, 1] <= table.ci[0, 0]


def test_rank_keeps_the_intervals_it_is_given():
    table = rank([_scored("a", [3, 2, 1, 0, 5, 4])], Y, fpr=0.5, intervals={"a": [0.25, 0.75]})
    np.testing.assert_array_equal(table.ci, [[0.25, 0.75]])


def test_named_rule_checks_the_recipe():
    assert named_rule({}, "best") == "best"
    assert named_rule({"rule": "rank_top3"}, "best") == "rank_top3"
    assert named_rule({"model": "mlp"}, "best", ignored=("model",)) == "best"
    with pytest.raises(ConfigError, match="unknown auto rule 'top'; valid: " + ", ".join(RULES)):
        named_rule({"rule": "top"}, "best")
    with pytest.raises(ConfigError, match="recipe auto has no parameter.s. model; valid: rule"):
        named_rule({"model": "mlp"}, "best")


def test_one_target_tables_rank_mean_over_every_row_and_resample_rows():
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(50), np.zeros(50)].astype(np.int64)
    table = rank([_scored(f"c{i}", rng.random(100) + 0.3 * y * (i == 0), (i,)) for i in range(5)], y, fpr=0.1)
    pick = apply_rule("rank_top3", table)
    assert len(pick.labels) == 3 and pick.label() == "mean rank of " + " + ".join(pick.labels)
    ranks = combine([table.scores[table.index(label)] for label in pick.labels], None, pick.combine)
    assert ranks.min() >= 0 and ranks.max() <= 1
    one = table.take([table.index("c3")])
    assert one.labels == ("c3",) and one.tpr[0] == table.tpr[table.index("c3")]
    got = corrected_estimate(one, "best", n_boot=30)
    assert got["candidates"] == 1 and got["raw"] == objective_value(y, table.scores[table.index("c3")], 0.1)[1]
    assert corrected_estimate(table, "best", top=2, n_boot=30)["candidates"] == 2
