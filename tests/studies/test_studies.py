import json

import numpy as np
import pytest
from click.testing import CliRunner

from toolkit.cli import cli
from toolkit.errors import ConfigError
from toolkit.studies import leakage
from toolkit.studies.imbalance import ImbalanceConfig, removal_mask, run_imbalance, write_imbalance_report
from toolkit.studies.scaling import ScalingConfig, n_params, parse_attacks, run_scaling, write_scaling_report

SMALL = dict(widths=(16, 64), repeats=1, shadows=2, epochs=10)


def test_param_counts_match_source():
    assert [n_params(w) for w in (16, 32, 64, 128, 256)] == [261, 517, 1029, 2053, 4101]


def test_loss_alias_and_unknown_attack():
    assert parse_attacks(["loss"])["loss"] == ("threshold", {"signal": "loss"})
    with pytest.raises(ConfigError, match="shokri"):
        parse_attacks(["nope"])


def test_scaling_deterministic_and_writes_files(tmp_path):
    cfg = ScalingConfig(**SMALL, attacks=("shokri", "loss"))
    a, b = run_scaling(cfg), run_scaling(cfg)
    assert a["rows"] == b["rows"]
    assert {r["width"] for r in a["rows"]} == {16, 64}
    assert all(0 <= r["auc_loss"] <= 1 and r["gap"] > 0 for r in a["rows"])
    paths = write_scaling_report(a, tmp_path)
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["rows"] == json.loads(json.dumps(a["rows"]))
    report = (tmp_path / "report.md").read_text()
    for s in a["summary"]:  # every width's measured AUC, with its interval, is in the table
        auc = s["auc_shokri"]
        assert f"| {s['width']} |" in report and f"{auc['mean']:.3f} [{auc['low']:.3f}, {auc['high']:.3f}]" in report


def test_scaling_seed_changes_results():
    a = run_scaling(ScalingConfig(**SMALL, attacks=("loss",), seed=0))
    b = run_scaling(ScalingConfig(**SMALL, attacks=("loss",), seed=1))
    assert a["rows"] != b["rows"]


@pytest.mark.slow
def test_scaling_default_under_a_minute():
    import time

    t = time.time()
    res = run_scaling(ScalingConfig())
    assert time.time() - t < 60 and len(res["rows"]) == 15


def test_cli_scaling(tmp_path):
    r = CliRunner().invoke(
        cli,
        [
            "study",
            "scaling",
            "--widths",
            "16",
            "--repeats",
            "2",
            "--shadows",
            "1",
            "--attacks",
            "loss",
            "--out",
            str(tmp_path),
        ],
    )
    assert r.exit_code == 0, r.output
    assert list(tmp_path.glob("studies/scaling/*/report.md"))


def test_removal_mask_rate():
    y = np.repeat(np.arange(10), 1000)
    m = removal_mask(y, 0.8, (0, 1), np.random.default_rng(0))
    assert not m[y >= 2].any() and abs(m[y < 2].mean() - 0.8) < 0.03


def test_imbalance_tiny(tmp_path):
    cfg = ImbalanceConfig(levels=("none", "severe"), sweep=(0.5,), n_ref=2, epochs=3, n_boot=20, attack="hardness")
    res = run_imbalance(cfg)
    sev = res["levels"]["severe"]
    assert sev["n_train"] < res["levels"]["none"]["n_train"]
    assert set(sev["attacks"]) == {"balanced refs", "imbalanced refs"}
    assert len(sev["attacks"]["balanced refs"]["per_class_auc"]) == 10
    assert "minority_auc" in sev["attacks"]["balanced refs"]
    paths = write_imbalance_report(res, tmp_path)
    assert all(p.is_file() for p in paths)
    report = (tmp_path / "report.md").read_text()
    auc = sev["attacks"]["balanced refs"]["AUC"]
    assert f"{auc:.3f}" in report  # the measured figure, not only the source's prediction


def test_leakage_hand_computed():
    m = np.array([1, 1, 0, 0])
    s = np.array([0.9, 0.2, 0.5, 0.1])
    # thresholds: > 0.5 catches 1 of 2 members and no non-member → J = 0.5
    assert leakage.advantage(m, s) == pytest.approx(0.5)
    assert leakage.balanced_accuracy(m, s) == pytest.approx(0.75)
    assert leakage.binary_entropy(0.5) == pytest.approx(1.0)
    perfect = leakage.mutual_information_bits(
        np.r_[np.ones(500), np.zeros(500)], np.r_[np.ones(500), np.zeros(500)], bins=2, correct=False
    )
    assert perfect == pytest.approx(1.0)


def test_leakage_independent_scores_near_zero():
    rng = np.random.default_rng(0)
    m = rng.integers(0, 2, 4000)
    summary = leakage.leakage_summary(m, rng.random(4000))
    assert summary["mi_bits"] < 0.005 and summary["advantage"] < 0.06
    assert summary["mi_upper_bound_bits"] == pytest.approx(1.0, abs=1e-3)
