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


def _announcing(module: str, name: str, marker: str) -> str:
    """Script lines that wrap ``module.name`` to print ``marker`` and pause before each call: a kill can land
    just before, inside or after the write it announces."""
    return f"""
import time as _time
import {module} as _mod
_real = _mod.{name}
def _announced(*args):
    print("{marker}", flush=True)
    _time.sleep(0.05)
    _real(*args)
_mod.{name} = _announced
"""


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


# ---- shadow training, and two trainers sharing one folder ---------------------------------------------

SHADOWS = (
    _announcing("toolkit.references.runner", "atomic_write_bytes", "saving")
    + """
import sys
import torch
torch.set_num_threads(1)
import toolkit.references.runner as shadow
from toolkit.data import load_population
from toolkit.models.training import TrainConfig
pop = load_population("demo")
cfg = TrainConfig(epochs=1, batch_size=128, lr=0.05, seed=3, device="cpu")
print("training", flush=True)
shadow.train_shadows(sys.argv[1], pop.inputs, pop.labels, 4, cfg, architecture="demo_mlp", n_classes=10, progress=False)
print("done", flush=True)
"""
)


# measured records, never the same twice: the shadows' training seconds, and each model's precision with the
# probe's seconds (trainers running at once may each write the record last; the weights are what must agree)
MEASURED = ("seconds.json", "precision.json")


def _files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` but a killed writer's temporaries and the measured timings (checked apart)."""
    files = {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(Path(folder).rglob("*"))
        if p.is_file() and not (p.name.startswith(".") and p.name.endswith(".tmp"))
    }
    for name in MEASURED:
        if name in files:
            record = json.loads(files.pop(name))  # whole JSON whenever it exists: written atomically
            times = [v["probe_seconds"].get("fp32", 0.0) if isinstance(v, dict) else v for v in record.values()]
            assert all(isinstance(t, float) and t >= 0 for t in times), record
    return files


def _whole(folder: Path, clean: dict) -> None:
    for name, data in _files(folder).items():
        assert data == clean[name], f"{name} differs from the undisturbed run's"


@pytest.fixture(scope="module")
def clean_shadows(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("clean_shadows")
    subprocess.run([sys.executable, "-c", SHADOWS, str(folder)], check=True, capture_output=True)
    return folder, _files(folder)


def test_shadow_training_killed_at_random_points_then_two_trainers_at_once_end_with_the_same_weights(
    clean_shadows, tmp_path
):
    _, clean = clean_shadows
    out = tmp_path / "shadows"
    rng = random.Random(13)
    _kill_when([SHADOWS, str(out)], "saving", rng.randint(1, 2), rng)
    _whole(out, clean)
    assert len(list(out.glob("shadow_*.pt"))) < 4, "every kill came too late"
    # the resume: two trainers at once on the one folder (each model renamed into place, whoever trains it)
    procs = [subprocess.Popen([sys.executable, "-c", SHADOWS, str(out)], stdout=subprocess.PIPE) for _ in range(2)]
    assert [p.wait() for p in procs] == [0, 0]
    assert _files(out) == clean


# ---- two processes sharing one outputs cache ----------------------------------------------------------

OUTPUTS = """
import sys
from pathlib import Path
import numpy as np
import torch
torch.set_num_threads(1)
import toolkit.outputs as o
paths = sorted(Path(sys.argv[1]).glob("shadow_*.pt"))
tasks = [o.OutputTask(p, "demo_mlp", 10, "demo", np.arange(0, 1797, 3, dtype=np.int64)) for p in paths]
o.get_outputs(tasks, cache_dir=Path(sys.argv[2]), progress=False)
"""


def test_two_processes_sharing_one_outputs_cache_leave_the_same_entries(clean_shadows, tmp_path):
    import numpy as np

    from toolkit.outputs import OutputTask, get_outputs

    models, _ = clean_shadows
    tasks = [
        OutputTask(p, "demo_mlp", 10, "demo", np.arange(0, 1797, 3, dtype=np.int64))
        for p in sorted(models.glob("shadow_*.pt"))
    ]
    get_outputs(tasks, cache_dir=tmp_path / "alone", progress=False)
    procs = [subprocess.Popen([sys.executable, "-c", OUTPUTS, str(models), str(tmp_path / "shared")]) for _ in range(2)]
    assert [p.wait() for p in procs] == [0, 0]
    alone, shared = _files(tmp_path / "alone"), _files(tmp_path / "shared")
    entries = {k: v for k, v in alone.items() if k.endswith(".npy")}
    assert entries and {k: v for k, v in shared.items() if k.endswith(".npy")} == entries


# ---- two processes sharing one runs folder ------------------------------------------------------------

ENTRIES = """
import sys
from toolkit.tracks import load_track
from toolkit.tuning.study import write_entry
track = load_track("demo")
for i in range(40):
    write_entry(track, sys.argv[1], {"recipe": {"attack": "hardness"}, "i": i})
"""


def test_two_tuners_sharing_one_runs_folder_keep_both_recipes(tmp_path):
    import os

    env = {**os.environ, "MIA_RUNS_DIR": str(tmp_path / "runs")}
    procs = [subprocess.Popen([sys.executable, "-c", ENTRIES, s], env=env) for s in ("demo_inf", "demo_lo")]
    assert [p.wait() for p in procs] == [0, 0]
    data = json.loads((tmp_path / "runs" / "demo" / "tuned_recipes.json").read_text())
    assert data["demo_inf"]["i"] == data["demo_lo"]["i"] == 39  # the lock: neither process lost the other's entry


# ---- challenge build ----------------------------------------------------------------------------------

BUILD = (
    _announcing("toolkit.references.runner", "atomic_write_bytes", "saving")
    + """
import sys
from dataclasses import replace
import torch
torch.set_num_threads(1)
from toolkit.mico.build import build_challenge
from toolkit.tracks import load_track
track = load_track("demo")
track = replace(track, build=replace(track.build, epochs=2, dp_epochs=1), scenarios=track.scenarios[:1])
build_challenge(track, sys.argv[1], train_models=2, dev_models=1, final_models=1, progress=False)
print("done", flush=True)
"""
)


def _build(folder: Path) -> None:
    from dataclasses import replace

    from toolkit.mico.build import build_challenge
    from toolkit.tracks import load_track

    track = load_track("demo")
    track = replace(track, build=replace(track.build, epochs=2, dp_epochs=1), scenarios=track.scenarios[:1])
    build_challenge(track, folder, train_models=2, dev_models=1, final_models=1, progress=False)


def test_challenge_build_killed_at_random_points_resumes_to_the_same_challenge(tmp_path):
    clean_dir, out = tmp_path / "clean", tmp_path / "killed"
    _build(clean_dir)
    clean = _files(clean_dir)
    rng = random.Random(13)
    for _ in range(2):
        _kill_when([BUILD, str(out)], "saving", 1, rng)
        _whole(out, clean)
    assert len(list(out.rglob("model.pt"))) < len([k for k in clean if k.endswith("model.pt")]), "kills came too late"
    _build(out)  # the re-run trains only what is missing
    assert _files(out) == clean


# ---- training many models at once (mia references) ----------------------------------------------------

TRAIN = (
    _announcing("toolkit.references.runner", "atomic_write_bytes", "writing")
    + """
import sys
import numpy as np
import torch
torch.set_num_threads(1)
from pathlib import Path
import toolkit.references.runner as tr
from toolkit.models.training import TrainConfig
rng = np.random.default_rng(0)
out = Path(sys.argv[1])
cfg = lambda i: TrainConfig(epochs=2, batch_size=64, lr=0.01, optimizer="adam", seed=i)
points = [rng.permutation(1797)[:400] for _ in range(6)]
tasks = [tr.TrainTask(out / f"ref_{i:03d}.pt", "demo_mlp", 10, "demo", points[i], cfg(i)) for i in range(6)]
tr.run_train_tasks(tasks, group=2, progress=False)
print("done", flush=True)
"""
)


def test_reference_training_killed_at_random_points_resumes_to_the_same_bytes(tmp_path):
    """Blocks are fixed by position: a killed run's missing models retrain in the same groups, to the same bytes."""
    clean_dir, out = tmp_path / "clean", tmp_path / "killed"
    subprocess.run([sys.executable, "-c", TRAIN, str(clean_dir)], check=True, capture_output=True)
    clean = _files(clean_dir)
    assert len(clean) == 6
    rng = random.Random(7)
    for after in (1, 2):
        _kill_when([TRAIN, str(out)], "writing", after, rng)
        _whole(out, clean)
    assert len(list(out.glob("ref_*.pt"))) < 6, "every kill came too late"
    subprocess.run([sys.executable, "-c", TRAIN, str(out)], check=True, capture_output=True)
    assert _files(out) == clean


# ---- report -------------------------------------------------------------------------------------------

REPORT = """
import sys, time
import toolkit.io as tio
real_fsync = tio.os.fsync
def slow_fsync(fd):  # each file sits a while between its bytes and its rename: time to be killed there
    time.sleep(0.03)
    real_fsync(fd)
tio.os.fsync = slow_fsync
from toolkit.report import rebuild
print("drawing", flush=True)
rebuild(sys.argv[1])
print("done", flush=True)
"""


def test_report_killed_at_random_points_leaves_whole_files_and_a_rerun_the_same_bytes(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "report"))
    from test_report import synthetic

    from toolkit.report.build import REPORT_DATA, rebuild, write_report

    folder = tmp_path / "run"
    folder.mkdir()
    data = synthetic()
    data.save(folder / REPORT_DATA)
    write_report(tmp_path / "clean", data)
    data.save(tmp_path / "clean" / REPORT_DATA)
    clean = _files(tmp_path / "clean")
    rng = random.Random(13)
    outcomes = []
    for _ in range(2):
        outcomes.append(_kill_when([REPORT, str(folder)], "drawing", 1, random.Random(rng.random())).strip())
        _whole(folder, clean)
    assert not all(o.endswith("done") for o in outcomes), "every kill came too late"
    rebuild(folder)
    assert _files(folder) == clean


def test_a_killed_writers_old_temporaries_are_swept_and_a_live_ones_kept(tmp_path):
    import os

    from toolkit.io import STALE_TMP_S, sweep_stale_temporaries

    old, new = tmp_path / ".model.pt.abc.tmp", tmp_path / ".model.pt.def.tmp"
    for p in (old, new):
        p.write_bytes(b"half")
    os.utime(old, (time.time() - STALE_TMP_S - 5,) * 2)
    sweep_stale_temporaries([tmp_path, tmp_path / "absent"])
    assert not old.exists() and new.exists()
