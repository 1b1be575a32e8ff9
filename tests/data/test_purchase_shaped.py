"""The generated Purchase-100-shaped population and its two tracks (purchase_shaped, purchase_shaped_full)."""

from __future__ import annotations

import numpy as np
import pytest

from toolkit.data import dataset_names, load_population
from toolkit.data.purchase_shaped import LABEL_NOISE, N_CLASSES, N_FEATURES, SIZES, class_prior, generate, prototypes
from toolkit.tracks import load_track

# The population's content hash: a change of generator, constants or numpy's random streams changes
# every built challenge's data, so it must be a deliberate edit of this line.
FINGERPRINT = "purchase_shaped:8ae9d47760cda185"


@pytest.fixture(scope="module")
def pop():
    return load_population("purchase_shaped")


@pytest.fixture(scope="module")
def rows():
    return generate(SIZES["purchase_shaped"])


def test_registered_under_both_names():
    assert {"purchase_shaped", "purchase_shaped_full"} <= set(dataset_names())


def test_deterministic_and_fingerprint_stable(pop, rows):
    x, y, _ = rows
    assert np.array_equal(pop.inputs, x) and np.array_equal(pop.labels, y)
    again = generate(SIZES["purchase_shaped"])
    assert all(np.array_equal(a, b) for a, b in zip(rows, again))
    assert pop.fingerprint == FINGERPRINT


def test_shape_and_dtypes(pop):
    assert pop.inputs.shape == (SIZES["purchase_shaped"], N_FEATURES) and pop.inputs.dtype == np.float32
    assert set(np.unique(pop.inputs)) == {0.0, 1.0}
    assert pop.labels.dtype == np.int64 and pop.labels.min() >= 0 and pop.labels.max() < N_CLASSES
    assert len(np.unique(pop.labels)) == N_CLASSES


def test_exact_sizes_and_shared_leading_rows(pop):
    x, y, _ = generate(12_345)  # not a multiple of the block size
    assert x.shape == (12_345, N_FEATURES) and y.shape == (12_345,)
    assert np.array_equal(x, pop.inputs[:12_345]) and np.array_equal(y, pop.labels[:12_345])


def test_classes_are_long_tailed(pop):
    counts = np.bincount(pop.labels, minlength=N_CLASSES)
    assert counts.max() >= 5 * counts.min()  # Zipf s = 0.5 over 100 classes: ≈ 10×
    prior = class_prior()
    assert prior.sum() == pytest.approx(1.0) and prior.max() / prior.min() == pytest.approx(10.0)


def test_some_labels_are_flipped(rows):
    _, y, true = rows
    assert abs((y != true).mean() - LABEL_NOISE) < 0.01


def test_learnable_but_not_trivial(rows):
    """The Bayes-optimal classifier (the prototypes are known here) is right on most rows, not all."""
    x, y, _ = rows
    p = prototypes()
    loglik = x @ np.log(p).T + (1 - x) @ np.log1p(-p).T + np.log(class_prior())
    bayes = (loglik.argmax(1) == y).mean()
    assert 0.6 < bayes < 0.95


def test_tracks_parse_with_their_population_sizes(pop):
    small = load_track("purchase_shaped")
    assert small.dataset == "purchase_shaped" and small.population_size == len(pop)
    assert (small.architecture, small.n_classes, small.m, small.kind) == ("mico_mlp", 100, 100, "mico")
    assert [s.epsilon for s in small.scenarios] == [float("inf"), 10.0, 4.0]
    b = small.build
    assert b.train_models >= 32 and b.dev_models >= 10 and b.final_models >= 10
    full = load_track("purchase_shaped_full")
    assert full.dataset == "purchase_shaped_full"
    assert (full.population_size, full.len_training) == (SIZES["purchase_shaped_full"], 150_000) == (197_324, 150_000)
    assert (full.build.train_models, full.build.dev_models, full.build.final_models) == (100, 50, 50)


def test_other_seeds_are_other_populations_of_the_same_shape(pop):
    from toolkit.data.purchase_shaped import OTHER_SEEDS

    other = load_population(f"purchase_shaped_seed{OTHER_SEEDS[0]}")
    assert other.inputs.shape == pop.inputs.shape and other.fingerprint != pop.fingerprint
    assert not np.array_equal(other.labels, pop.labels)
    again = generate(2_000, OTHER_SEEDS[0])
    np.testing.assert_array_equal(again[1], other.labels[:2_000])  # seeded: the same rows every time
    assert abs(other.inputs.mean() - pop.inputs.mean()) < 0.02  # same generator: same feature density
