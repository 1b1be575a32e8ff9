"""MICO populations read from fixtures in the real file formats."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from mico_fixtures import py2_pickle, write_cifar, write_purchase, write_sst2

from toolkit.data import load_population
from toolkit.data.cifar10 import MEAN, STD, load_cifar10, read_batch
from toolkit.data.purchase100 import load_purchase100
from toolkit.errors import DataError, FormatError


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MIA_CACHE_DIR", str(tmp_path / "cache"))


def test_cifar_order_and_normalisation(tmp_path):
    raw = write_cifar(tmp_path / "cifar10", per_batch=20)
    pop = load_cifar10(data_dir=tmp_path)
    assert pop.inputs.shape == (120, 3, 32, 32) and pop.inputs.dtype == np.float32 and len(pop) == 120
    # pixel (channel 1, row 2, col 3) of image 45 (batch 3, row 5): planes of 1024 values, row-major
    expected = (raw[45, 1024 + 2 * 32 + 3] / 255.0 - MEAN[1]) / STD[1]
    assert pop.inputs[45, 1, 2, 3] == pytest.approx(expected, rel=1e-5)
    again = load_cifar10(dataset_dir=tmp_path / "cifar10")  # served from the binary cache
    assert again.fingerprint == pop.fingerprint and np.array_equal(again.labels, pop.labels)


def test_cifar_batch_refuses_foreign_globals(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": __import__("os").getcwd}, protocol=2))
    with pytest.raises(FormatError, match="not allowed"):
        read_batch(path)


def test_cifar_bad_shape_and_missing_file(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(py2_pickle({"data": np.zeros((2, 10), np.uint8), "labels": [0, 1]}))
    with pytest.raises(FormatError, match="3072"):
        read_batch(path)
    with pytest.raises(DataError, match="cifar-10-batches-py"):
        load_population("cifar10", tmp_path / "nowhere")


def test_purchase_labels_shift_and_cache(tmp_path):
    x, labels = write_purchase(tmp_path / "purchase100" / "dataset_purchase", n=50)
    pop = load_purchase100(data_dir=tmp_path)
    assert pop.inputs.shape == (50, 600) and pop.inputs.dtype == np.float32
    assert np.array_equal(pop.labels, labels - 1) and np.array_equal(pop.inputs, x)
    cached = list((tmp_path / "cache" / "datasets").glob("purchase100-*/inputs.npy"))
    assert len(cached) == 1
    # an edited file has a new hash, so a new cache entry
    (tmp_path / "purchase100" / "dataset_purchase").write_text("5," + ",".join(["1"] * 600) + "\n")
    assert load_purchase100(data_dir=tmp_path).labels.tolist() == [4]


def test_purchase_format_errors(tmp_path):
    path = tmp_path / "dataset_purchase"
    path.write_text("0," + ",".join(["0"] * 600) + "\n")
    with pytest.raises(FormatError, match="1..100"):
        load_purchase100(dataset_dir=path)
    path.write_text("3,0,1\n")
    with pytest.raises(FormatError, match="601 columns"):
        load_purchase100(dataset_dir=tmp_path)
    with pytest.raises(DataError, match="dataset_purchase"):
        load_purchase100(data_dir=tmp_path / "x")


def test_sst2_tokenised_train_then_validation(tmp_path):
    pytest.importorskip("transformers")
    from toolkit.data.sst2 import MAX_LENGTH, load_sst2, read_split

    write_sst2(tmp_path / "sst2", n_train=30, n_val=7)
    pop = load_sst2(data_dir=tmp_path)
    sentences, labels = read_split(tmp_path / "sst2" / "SST-2" / "dev.tsv")
    assert pop.inputs.shape == (37, MAX_LENGTH) and pop.inputs.dtype == np.int64
    assert np.array_equal(pop.labels[30:], labels)
    assert (pop.inputs[:, 0] == 0).all()  # <s> first; quotes in sentences are read literally
    assert sentences[0].startswith('"fun"') and len(sentences) == 7
    assert (pop.inputs == 1).any()  # short sentences are padded with <pad> = 1


def test_sst2_missing_files_name_the_path(tmp_path):
    from toolkit.data.sst2 import load_sst2

    with pytest.raises(DataError, match="train.tsv"):
        load_sst2(data_dir=tmp_path)
