"""The ResNet18 task's files: exact organiser format, safe unpickling, population order."""

from __future__ import annotations

import os
import zipfile

import numpy as np
import pytest
import torch
from fixtures_tml import one_thread, write_malicious, write_task

from toolkit.data import load_population
from toolkit.data.tml import MEAN, STD, find_target_model, load_task, read_membership_dataset
from toolkit.errors import DataError, FormatError
from toolkit.tml.build import save_membership_dataset


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with one_thread():
        yield


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tml_task")
    return folder, write_task(folder, n_pub=40, n_priv=30)


def test_files_name_the_organisers_main_classes(task):
    folder, _ = task
    with zipfile.ZipFile(folder / "pub.pt") as zf:
        pkl = next(zf.read(n) for n in zf.namelist() if n.endswith("data.pkl"))
    assert b"__main__\nMembershipDataset" in pkl


def test_reads_fields_as_normalised_arrays(task):
    folder, gt = task
    t = load_task(folder)
    np.testing.assert_array_equal(t.pub.ids, gt["ids"][:40])
    np.testing.assert_array_equal(t.priv.labels, gt["labels"][40:])
    np.testing.assert_array_equal(t.pub.membership, gt["membership"][:40])
    assert t.priv.membership.dtype == np.int8 and (t.priv.membership == -1).all()
    expect = (gt["images"][:40] - np.array(MEAN).reshape(1, 3, 1, 1)) / np.array(STD).reshape(1, 3, 1, 1)
    assert t.pub.images.dtype == np.float32 and t.pub.images.shape == (40, 3, 32, 32)
    np.testing.assert_allclose(t.pub.images, expect, atol=1e-5)
    assert t.model_path.name == "01_MIA.pt"


def test_population_is_pub_then_priv(task):
    folder, gt = task
    pop = load_population("tml", folder)
    assert len(pop) == 70 and pop.fingerprint.startswith("tml:")
    np.testing.assert_array_equal(pop.labels, gt["labels"])


def test_target_state_dict_loads_as_resnet18_44(task):
    from toolkit.models import load_model

    folder, _ = task
    model = load_model("resnet18_44", find_target_model(folder), 44)
    with torch.inference_mode():
        out = model(torch.from_numpy(load_task(folder).pub.images[:3]))
    assert out.shape == (3, 44)


@pytest.mark.parametrize("fn", [os.system, eval])
def test_refuses_code_execution(tmp_path, fn):
    marker = tmp_path / "pwned"
    arg = f"touch {marker}" if fn is os.system else f"open({str(marker)!r}, 'w')"
    write_malicious(tmp_path / "pub.pt", fn, arg)
    with pytest.raises(FormatError, match="refused to unpickle global"):
        read_membership_dataset(tmp_path / "pub.pt")
    assert not marker.exists()


def test_refuses_other_main_class(tmp_path):
    import sys

    cls = type("Sneaky", (), {"__module__": "__main__"})
    sys.modules["__main__"].Sneaky = cls
    try:
        torch.save(cls(), tmp_path / "pub.pt")
    finally:
        delattr(sys.modules["__main__"], "Sneaky")
    with pytest.raises(FormatError, match="__main__.Sneaky"):
        read_membership_dataset(tmp_path / "pub.pt")


def test_bad_fields_are_listed_together(tmp_path):
    imgs = np.full((3, 3, 32, 32), 0.5, dtype=np.float32)
    save_membership_dataset(tmp_path / "pub.pt", [1, 1, 2], imgs, [0, 50, 1], [0, 2, 1])
    with pytest.raises(FormatError) as err:
        read_membership_dataset(tmp_path / "pub.pt")
    msg = str(err.value)
    assert "not unique" in msg and "labels must lie" in msg and "membership" in msg


def test_missing_file_names_path_and_origin(tmp_path):
    imgs = np.full((2, 3, 32, 32), 0.5, dtype=np.float32)
    save_membership_dataset(tmp_path / "pub.pt", [1, 2], imgs, [0, 1], [0, 1])
    with pytest.raises(DataError, match=f"missing {tmp_path}/priv_out.pt .*organisers"):
        load_population("tml", tmp_path)


def test_target_model_must_be_unique(task, tmp_path):
    (tmp_path / "a.pt").write_bytes(b"x")
    (tmp_path / "b.pt").write_bytes(b"x")
    with pytest.raises(DataError, match="2"):
        find_target_model(tmp_path)
    with pytest.raises(DataError, match="no target"):
        find_target_model(tmp_path / "empty")


def test_overlapping_ids_rejected(tmp_path):
    imgs = np.full((2, 3, 32, 32), 0.5, dtype=np.float32)
    save_membership_dataset(tmp_path / "pub.pt", [1, 2], imgs, [0, 1], [0, 1])
    save_membership_dataset(tmp_path / "priv_out.pt", [2, 3], imgs, [0, 1], [None, None])
    (tmp_path / "01_MIA.pt").write_bytes(b"")
    with pytest.raises(DataError, match="share 1 ids"):
        load_task(tmp_path)
