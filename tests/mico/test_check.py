"""Every rule of the scorer, each broken on purpose; all problems are reported at once."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from toolkit.errors import FormatError, SubmissionError
from toolkit.mico.check import read_zip_predictions

SCEN = ("s_inf", "s_hi", "s_lo")
EXPECTED = {s: {"dev": [3, 4], "final": [5]} for s in SCEN}


def make_zip(path, *, mutate=None, extra=(), n=200):
    entries = {}
    rng = np.random.default_rng(0)
    for s in SCEN:
        for phase, ids in EXPECTED[s].items():
            for i in ids:
                entries[f"t/{s}/{phase}/model_{i}/prediction.csv"] = ",".join(f"{v:.6f}" for v in rng.random(n)) + "\n"
    if mutate:
        mutate(entries)
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in list(entries.items()) + list(extra):
            zf.writestr(name, text)
    return path


def check(path, expected=EXPECTED):
    return read_zip_predictions(path, "t", SCEN, expected, 200)


def test_valid_zip_reads_back(tmp_path):
    got = check(make_zip(tmp_path / "ok.zip"))
    assert sorted(got["s_hi"]["dev"]) == [3, 4] and len(got["s_lo"]["final"][5]) == 200


FIRST = "t/s_inf/dev/model_3/prediction.csv"


@pytest.mark.parametrize(
    "name,mutate,extra,message",
    [
        ("missing_model", lambda e: e.pop(FIRST), (), "missing prediction.csv for model(s) [3]"),
        ("header", lambda e: e.update({FIRST: "score\n" + e[FIRST]}), (), "2 lines"),
        ("nan", lambda e: e.update({FIRST: "nan," + e[FIRST].split(",", 1)[1]}), (), "NaN"),
        ("above_one", lambda e: e.update({FIRST: "1.5," + e[FIRST].split(",", 1)[1]}), (), "outside [0, 1]"),
        ("wrong_count", lambda e: e.update({FIRST: e[FIRST].rsplit(",", 1)[0] + "\n"}), (), "199 values"),
        ("ds_store", None, [("t/s_inf/.DS_Store", "x")], "stray entry"),
        ("macosx", None, [("__MACOSX/t/._x", "x")], "outside the task folder"),
        ("extra_scenario", None, [("t/s_other/dev/model_1/prediction.csv", "0.5\n")], "stray entry"),
        ("train_phase", None, [("t/s_inf/train/model_1/prediction.csv", "0.5\n")], "stray entry"),
        ("missing_phase", lambda e: [e.pop(k) for k in list(e) if "/s_lo/final/" in k], (), "s_lo/final"),
        ("traversal", None, [("t/../../evil.csv", "x")], "unsafe path"),
    ],
)
def test_each_rule_rejects_a_file_built_to_break_it(tmp_path, name, mutate, extra, message):
    path = make_zip(tmp_path / f"{name}.zip", mutate=mutate, extra=extra)
    with pytest.raises(SubmissionError) as err:
        check(path)
    assert message in str(err.value)


def test_both_phases_required_without_expected_models(tmp_path):
    path = make_zip(tmp_path / "nofinal.zip", mutate=lambda e: [e.pop(k) for k in list(e) if "/final/" in k])
    with pytest.raises(SubmissionError, match="both phases are required"):
        check(path, expected=None)


def test_size_limit(tmp_path):
    import os

    path = make_zip(tmp_path / "big.zip", extra=[("t/s_inf/big.bin", os.urandom(2_200_000))])
    with pytest.raises(SubmissionError) as err:
        check(path)
    assert "2 MB" in str(err.value) and "stray entry" in str(err.value)  # every problem at once


def test_not_a_zip(tmp_path):
    (tmp_path / "x.zip").write_text("hello")
    with pytest.raises(FormatError, match="not a valid zip"):
        check(tmp_path / "x.zip")
