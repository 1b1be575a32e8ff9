import numpy as np
import pytest

from toolkit.errors import DataError, FormatError
from toolkit.mico.challenge import list_models, make_splits, randperm_mt, read_seed, read_solution

# (seed, n, first 8, last 3): the organisers' torchcsprng MT19937 randperm (their challenge-generation code)
VECTORS = [
    (0, 200, [44, 57, 157, 64, 19, 74, 65, 10], [198, 56, 59]),
    (42, 60000, [37542, 43087, 2992, 25810, 39634, 6425, 55768, 11034], [28045, 16929, 22100]),
    (7835775564752058281, 60000, [27757, 19980, 13354, 9734, 19086, 19651, 4097, 3445], [58812, 58778, 16530]),
    (5489, 197324, [65120, 161099, 143506, 25413, 11728, 192324, 40277, 41905], [178094, 114585, 175751]),
    (9223372036854775807, 68221, [40105, 33259, 18680, 58774, 64915, 59213, 51298, 21841], [60365, 51428, 2494]),
]


@pytest.mark.parametrize("seed,n,first,last", VECTORS)
def test_randperm_reproduces_organiser_vectors(seed, n, first, last):
    r = randperm_mt(seed, n)
    assert r[:8].tolist() == first
    assert r[-3:].tolist() == last
    assert np.array_equal(np.sort(r), np.arange(n))


def test_randperm_uses_low_32_bits_only():
    assert np.array_equal(randperm_mt(5 + 2**32, 50), randperm_mt(5, 50))


def test_splits_round_trip():
    N, n, m = 1000, 400, 20
    s = make_splits(N, n, m, 11, 22, 33)
    assert len(s.challenge) == 2 * m and len(s.members) == m and len(s.nonmembers) == m
    assert len(s.training) == n - m and len(s.training) + len(s.evaluation) == N - 2 * m
    # the solution marks exactly the members, in challenge order
    assert set(s.challenge[s.solution == 1]) == set(s.members)
    assert set(s.challenge[s.solution == 0]) == set(s.nonmembers)
    keep = s.membership(N)
    assert keep.sum() == n and keep[s.members].all() and not keep[s.nonmembers].any()
    assert not keep[s.evaluation].any()
    # same seeds, same splits; the challenge does not depend on the other seeds
    assert np.array_equal(make_splits(N, n, m, 11).challenge, s.challenge)
    assert np.array_equal(s.training_set()[:m], s.members)


def test_seed_files(tmp_path):
    (tmp_path / "seed_challenge").write_text("7835775564752058281\n")
    assert read_seed(tmp_path / "seed_challenge") == 7835775564752058281
    (tmp_path / "bad").write_text("12ab\n")
    with pytest.raises(FormatError):
        read_seed(tmp_path / "bad")
    with pytest.raises(DataError, match="seed file missing"):
        read_seed(tmp_path / "missing")


def test_list_models_counts_folders(tmp_path):
    for i in (3, 10, 2):
        (tmp_path / "dev" / f"model_{i}").mkdir(parents=True)
    (tmp_path / "dev" / ".DS_Store").write_text("")
    assert [m.model_id for m in list_models(tmp_path, "dev")] == [2, 3, 10]
    with pytest.raises(DataError):
        list_models(tmp_path, "final")


def test_read_solution(tmp_path):
    f = tmp_path / "solution.csv"
    f.write_text("1,0,1\n")
    assert read_solution(f, 3).tolist() == [1, 0, 1]
    with pytest.raises(FormatError, match="expected 4"):
        read_solution(f, 4)


def test_built_model_does_not_depend_on_the_process_rng(tmp_path):
    """A model's weights follow from its seed files alone, whatever ran before it in the worker."""
    from dataclasses import replace

    import torch

    from toolkit.mico.build import _jobs, _write_seeds
    from toolkit.references.runner import run_train_tasks
    from toolkit.tracks import load_track

    track = load_track("demo")
    build = replace(track.build, epochs=1, train_models=1, dev_models=0, final_models=0)
    out = []
    for noise in (1, 2):
        task = _write_seeds(_jobs(track, build, tmp_path / str(noise))[0], build)
        torch.manual_seed(noise)  # another job's training left the global RNG elsewhere
        run_train_tasks([task], group=1, threads=1, progress=False, records=())
        out.append(task.out_path.read_bytes())
    assert out[0] == out[1]
