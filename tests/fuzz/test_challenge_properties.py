"""Challenge folders from strangers: a scenario whose every model has its files and agreeing seeds, or one line.

A small scenario in the organisers' layout is damaged a few ways at once: files deleted or
replaced by garbage or by folders, extra, duplicate (``model_05`` beside ``model_5``) and stray
model folders, a phase folder gone, a solution that disagrees with its seeds, counts other than
the organisers'. ``open_scenario`` and the planning of its outputs either give a scenario that
keeps its promises or raise a ``ToolkitError`` naming a path under the challenge.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from fuzz_contract import outcome
from hypothesis import given, settings
from hypothesis import strategies as st
from mico_fixtures import mico_track, write_scenario

from toolkit.mico.challenge import PHASES
from toolkit.mico.scenario import open_scenario

N, n, m = 1797, 500, 100  # the demo population: no dataset file to write
TRACK = mico_track("fz", "fz", "demo", "demo_mlp", 10, N, n, m, {"fz_inf": {}})
FILES = ["seed_challenge", "seed_training", "seed_membership", "solution.csv", "model.pt"]


def _weights(folder, splits, model_id) -> None:
    (folder / "model.pt").write_bytes(b"weights are not read when a scenario is opened")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    data = tmp_path_factory.mktemp("challenge")
    write_scenario(data, "fz", "fz_inf", N, n, m, counts=(3, 2, 1), weights=_weights)
    return data


damages = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "delete",
                "garbage",
                "folder",
                "extra_model",
                "duplicate",
                "stray",
                "no_phase",
                "flip",
                "model_file",
                "empty_model",
            ]
        ),
        st.sampled_from(PHASES),
        st.integers(0, 5),
        st.sampled_from(FILES),
        st.binary(max_size=20),
    ),
    min_size=1,
    max_size=3,
)


def _damage(root, op, phase, index, name, junk) -> None:
    """One change to ``root/<phase>``: what a half-copied or hand-edited challenge looks like."""
    folder = root / phase
    models = sorted(p for p in folder.glob("model_*") if p.is_dir()) if folder.is_dir() else []
    target = models[index % len(models)] if models else None
    if op == "no_phase" and folder.is_dir():
        shutil.rmtree(folder)
    elif op == "extra_model" and folder.is_dir():
        (folder / f"model_{900 + index}").mkdir(exist_ok=True)
    elif op == "stray" and folder.is_dir():
        (folder / ".DS_Store").write_bytes(junk)
        (folder / "model_x").mkdir(exist_ok=True)
    elif op == "model_file" and folder.is_dir():
        (folder / f"model_{800 + index}").write_bytes(junk)  # a file named like a model folder
    elif target is None:
        return
    elif op == "duplicate":
        shutil.copytree(target, folder / target.name.replace("model_", "model_0"), dirs_exist_ok=True)
    elif op == "empty_model":
        for f in target.iterdir():
            f.unlink() if f.is_file() else shutil.rmtree(f)
    elif (target / name).exists() or op in ("garbage", "folder"):
        path = target / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        if op == "garbage":
            path.write_bytes(junk)
        elif op == "folder":
            path.mkdir()
        elif op == "flip" and name == "solution.csv":
            path.write_text("1," * (2 * m - 1) + "1\n")


def _keeps_its_promises(sd, root) -> None:
    for phase in PHASES:
        on_disk = sorted(int(p.name[6:]) for p in (root / phase).glob("model_*") if p.is_dir() and p.name[6:].isdigit())
        assert [md.model_id for md in sd.models[phase]] == sorted(set(on_disk))
        for md in sd.models[phase]:
            s = sd.splits[(phase, md.model_id)]
            assert len(s.challenge) == 2 * m and len(np.unique(s.challenge)) == 2 * m and s.challenge.max() < N
            if phase == "train":
                assert s.members is not None and s.training is not None
                sol = md.path / "solution.csv"
                if sol.exists():
                    shipped = np.array(sol.read_text().strip().split(","), dtype=float)
                    assert np.array_equal(shipped, s.solution)


@settings(max_examples=40)
@given(ops=damages)
def test_a_damaged_challenge_opens_whole_or_is_refused_naming_a_path(tmp_path_factory, pristine, ops):
    data = tmp_path_factory.mktemp("d")
    shutil.copytree(pristine, data, dirs_exist_ok=True)
    root = data / "fz" / "fz_inf"
    for op in ops:
        _damage(root, *op)

    def open_and_plan():
        sd = open_scenario(TRACK, TRACK.scenario("fz_inf"), data)
        sd.tasks()  # every model needs its weights file; the population must match the track
        return sd

    sd, err = outcome(open_and_plan, names=(str(data),))
    if err is None:
        _keeps_its_promises(sd, root)
