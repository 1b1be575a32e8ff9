"""Every long command survives SIGKILL: killed at random points, then re-run, it ends as an undisturbed run.

``tune`` (the study keeps every finished trial; the killed one is failed and redrawn, so the resumed
study and its recipe equal an undisturbed run's, and ``tuned_recipes.json`` is never half written),
shadow training and ``challenge build`` (one file per model, renamed into place: a re-run trains
only what is missing, to the same weights), ``report`` (PNGs and page renamed into place), and two
processes sharing one outputs cache or one runs folder at the same time (atomic renames: each
entry is whole whoever writes it; the tuned-recipes file is read-modified-written under a lock).
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner
from fault_injection import temporaries

from toolkit.cli import cli

pytestmark = pytest.mark.slow

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)


def _done(study) -> int:
    """Trials that count towards ``--trials``: finished, but not the killed runs' orphans."""
    return sum(t.state in FINISHED and not t.user_attrs.get("orphan") for t in study.trials)


def _kill_when(args: list[str], marker: str, after: int, rng: random.Random, env=None) -> str:
    """Run ``python -c args[0] args[1:]``, SIGKILL it a random moment after its ``after``-th ``marker`` line."""
    proc = subprocess.Popen([sys.executable, "-c", *args], stdout=subprocess.PIPE, text=True, env=env)
    seen = 0
    while seen < after:
        line = proc.stdout.readline()
        if not line:
            break
        seen += line.startswith(marker)
    time.sleep(rng.uniform(0.0, 0.25))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return proc.stdout.read()


# ---- tune ---------------------------------------------------------------------------------------------

TUNE = """
import sys, time
import toolkit.tuning.space as space
real = space.Objective.__call__
def slow(self, trial):  # a trial takes a while: time to be killed inside one
    print("trial", trial.number, flush=True)
    time.sleep(0.15)
    return real(self, trial)
space.Objective.__call__ = slow
from toolkit.cli import cli
cli(sys.argv[1:], prog_name="mia")
"""
TRIALS = 8


def _tune_args(data: Path, trials: int) -> list[str]:
    return ["tune", "--track", "demo", "--data", str(data), "-s", "demo_inf", "-q", "--trials", str(trials)] + [
        "--attacks",
        "hardness,threshold",
    ]


def _study(runs: Path) -> optuna.Study:
    return optuna.load_study(study_name="demo-demo_inf", storage=f"sqlite:///{runs / 'demo' / 'tuning.db'}")


def _finished(study) -> list[tuple]:
    fail = optuna.trial.TrialState.FAIL
    return [(t.params, t.value) for t in study.trials if t.state != fail and t.value is not None]


KEYS = ("recipe", "tuned_recipe", "default_recipe", "validation", "heldout", "default_heldout", "gain_ci", "choice")


def test_tune_killed_at_random_points_resumes_to_the_undisturbed_study_and_recipe(tiny_demo, tmp_path, monkeypatch):
    import os

    clean_runs = tmp_path / "clean"
    monkeypatch.setenv("MIA_RUNS_DIR", str(clean_runs))
    res = CliRunner().invoke(cli, _tune_args(tiny_demo, TRIALS), catch_exceptions=False)
    assert res.exit_code == 0, res.output
    clean = json.loads((clean_runs / "demo" / "tuned_recipes.json").read_text())["demo_inf"]
    clean_trials = _finished(_study(clean_runs))

    runs = tmp_path / "killed"
    monkeypatch.setenv("MIA_RUNS_DIR", str(runs))
    rng = random.Random(13)
    done = 0
    for _ in range(2):
        left = TRIALS - done
        _kill_when([TUNE, *_tune_args(tiny_demo, left)], "trial", rng.randint(1, max(1, left - 2)), rng, os.environ)
        recipes = runs / "demo" / "tuned_recipes.json"
        assert not recipes.exists() or json.loads(recipes.read_text())  # never half written
        assert temporaries(runs) == []
        done = _done(_study(runs))
    assert done < TRIALS, "every kill came too late"
    res = CliRunner().invoke(cli, _tune_args(tiny_demo, TRIALS - done), catch_exceptions=False)
    assert res.exit_code == 0, res.output
    study = _study(runs)
    assert not [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]  # the killed trials: failed
    assert any(t.user_attrs.get("orphan") for t in study.trials)
    assert _finished(study) == clean_trials  # every finished trial kept, the killed ones redrawn as undisturbed
    entry = json.loads((runs / "demo" / "tuned_recipes.json").read_text())["demo_inf"]
    assert {k: entry[k] for k in KEYS} == {k: clean[k] for k in KEYS}
