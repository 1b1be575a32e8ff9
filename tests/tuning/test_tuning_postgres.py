"""Two `mia tune` workers share one Optuna study in a real PostgreSQL server on 127.0.0.1.

`.ci/run` starts a throwaway server with `.ci/postgres.sh` and exports its SQLAlchemy URL as
MIA_TEST_POSTGRES_URL; without it (no server could be had) the test is skipped, saying why.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid

import optuna
import pytest
from click.testing import CliRunner

from toolkit.cli import cli

URL = os.environ.get("MIA_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(
    not URL, reason="no PostgreSQL server: run `url=$(bash .ci/postgres.sh)` and export MIA_TEST_POSTGRES_URL=$url"
)


def _worker(data, study: str, trials: int) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "toolkit.cli",
        "tune",
        "--track",
        "demo",
        "--data",
        str(data),
        "-s",
        "demo_inf",
        "--storage",
        URL,
        "--study",
        study,
        "--trials",
        str(trials),
        "--attacks",
        "hardness,threshold",
        "--no-report",
        "-q",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def test_two_workers_share_one_postgres_study(tiny_demo, tmp_path, monkeypatch):
    monkeypatch.setenv("MIA_RUNS_DIR", str(tmp_path / "runs"))
    # warm the outputs cache once, so the two workers race only on the study
    warm = CliRunner().invoke(cli, ["outputs", "--track", "demo", "--data", str(tiny_demo)], catch_exceptions=False)
    assert warm.exit_code == 0, warm.output
    study = f"shared-{uuid.uuid4().hex[:8]}"
    workers = [_worker(tiny_demo, study, 4) for _ in range(2)]
    outs = [w.communicate(timeout=600)[0] for w in workers]
    for w, out in zip(workers, outs):
        assert w.returncode == 0, out
    trials = optuna.load_study(study_name=study, storage=URL).trials
    assert len(trials) == 8 and sorted(t.number for t in trials) == list(range(8))
    assert all(t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED) for t in trials)
    # each worker reports the study's total, so the later one has seen the other's trials
    seen = [int(m.group(1)) for out in outs for m in re.finditer(r"\((\d+) trials in study " + study, out)]
    assert len(seen) == 2 and max(seen) == 8, outs
    assert "password" not in "".join(outs) and URL.split("@")[0] not in "".join(outs)  # no credentials printed
