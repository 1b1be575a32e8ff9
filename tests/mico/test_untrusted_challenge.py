"""Regressions: a challenge whose files do not belong together stops the run with one line naming them.

- a ``dataset_purchase`` cut short used to end in ``IndexError: index out of range in self``;
- a train model's ``solution.csv`` of 150 values, or one that disagrees with its seeds, was accepted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fuzz_contract import outcome
from mico_fixtures import mico_track, write_purchase, write_scenario

from toolkit.errors import DataError, FormatError
from toolkit.mico.scenario import open_scenario
from toolkit.outputs import OutputTask, get_outputs

N, n, m = 600, 400, 50
SCEN = "p_inf"


def _weights(folder: Path, splits, model_id: int) -> None:
    from mico_fixtures import write_weights

    write_weights(folder, "mico_mlp", 100, model_id)


@pytest.fixture
def challenge(tmp_path):
    """A purchase100-layout challenge of N = 600 points whose dataset file holds only 300 rows."""
    data = tmp_path / "data"
    write_purchase(data / "purchase100" / "dataset_purchase", n=300)
    write_scenario(data, "purchase100", SCEN, N, n, m, counts=(2, 1, 1), weights=_weights)
    track = mico_track("p", "purchase100", "purchase100", "mico_mlp", 100, N, n, m, {SCEN: {}})
    return track, data


def test_a_short_dataset_file_is_one_line_naming_file_rows_and_need(challenge, tmp_path):
    track, data = challenge
    sd = open_scenario(track, track.scenario(SCEN), data)
    _, err = outcome(sd.tasks, names=(str(data / "purchase100" / "dataset_purchase"),))
    assert isinstance(err, DataError)
    assert "holds 300 rows" in str(err) and "needs 600" in str(err)


def test_outputs_refuses_a_point_past_the_population(challenge, tmp_path):
    """get_outputs guards every point, whoever planned the task: a DataError, never an IndexError."""
    _, data = challenge
    model = next((data / "purchase100" / SCEN / "train").glob("model_*")) / "model.pt"
    task = OutputTask(model, "mico_mlp", 100, "purchase100", np.array([0, 299, 300]), data_dir=str(data))
    _, err = outcome(get_outputs, [task], cache_dir=tmp_path / "cache", progress=False, names=(str(model),))
    assert isinstance(err, DataError) and "point 300" in str(err) and "300 points" in str(err)
    task = OutputTask(model, "mico_mlp", 100, "purchase100", np.array([-1, 3]), data_dir=str(data))
    _, err = outcome(get_outputs, [task], cache_dir=tmp_path / "cache", progress=False)
    assert isinstance(err, DataError) and "point -1" in str(err)


def _train_model(data: Path) -> Path:
    return sorted((data / "purchase100" / SCEN / "train").glob("model_*"))[0]


def test_a_train_solution_of_150_values_is_refused_naming_it(challenge):
    track, data = challenge
    md = _train_model(data)
    (md / "solution.csv").write_text(",".join(["1"] * 75 + ["0"] * 75) + "\n")
    _, err = outcome(open_scenario, track, track.scenario(SCEN), data, names=(str(md / "solution.csv"),))
    assert isinstance(err, FormatError) and "150 values, expected 100" in str(err)


def test_a_train_solution_that_disagrees_with_the_seeds_stops_the_run(challenge):
    track, data = challenge
    md = _train_model(data)
    values = np.array((md / "solution.csv").read_text().strip().split(","), dtype=int)
    values[[3, 7]] = 1 - values[[3, 7]]
    (md / "solution.csv").write_text(",".join(map(str, values)) + "\n")
    _, err = outcome(open_scenario, track, track.scenario(SCEN), data, names=(str(md),))
    assert isinstance(err, DataError) and "disagrees" in str(err) and "2 of 100 rows" in str(err)


def test_a_solution_that_is_not_0_or_1_is_refused(challenge):
    track, data = challenge
    md = _train_model(data)
    (md / "solution.csv").write_text(",".join(["0.5"] * 100) + "\n")
    _, err = outcome(open_scenario, track, track.scenario(SCEN), data, names=(str(md / "solution.csv"),))
    assert isinstance(err, FormatError) and "only 0 and 1" in str(err)


def test_an_agreeing_solution_and_the_right_population_pass(tmp_path):
    data = tmp_path / "data"
    write_purchase(data / "purchase100" / "dataset_purchase", n=N)
    write_scenario(data, "purchase100", SCEN, N, n, m, counts=(2, 1, 1), weights=_weights)
    track = mico_track("p", "purchase100", "purchase100", "mico_mlp", 100, N, n, m, {SCEN: {}})
    sd = open_scenario(track, track.scenario(SCEN), data)
    assert len(sd.tasks()) == 4
