"""Dataset files from strangers: the arrays the format says, or one ``FormatError`` line naming the file.

- Purchase-100's text file: rows cut short, extra or missing columns, text, huge or negative numbers;
- CIFAR-10 batches: pickled dicts of every shape and dtype, damaged bytes, and pickles that would
  run code or make numpy allocate terabytes;
- the ResNet18 task's pickled ``MembershipDataset``: fields of every wrong type, damaged bytes,
  foreign objects, and pickles that would run code (a marker file that must never appear).
"""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
import torch
from fuzz_contract import MarkerPayload, marker_pickle, mutate, outcome
from hypothesis import given, settings
from hypothesis import strategies as st
from mico_fixtures import py2_pickle

from toolkit.data.cifar10 import read_batch
from toolkit.data.purchase100 import parse_purchase
from toolkit.data.tml import N_CLASSES, read_membership_dataset
from toolkit.errors import FormatError
from toolkit.tml.build import _in_main, _organiser_classes, save_membership_dataset

damage = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 1_000_000), st.integers(0, 255)), max_size=3)

# --- Purchase-100 ------------------------------------------------------------------------------------

cells = st.one_of(
    st.sampled_from(["0", "1"]), st.sampled_from(["0", "1", "2", "-1", "101", "x", "", "1.5", "9" * 30, " 1", "nan"])
)
purchase_rows = st.lists(
    st.tuples(st.one_of(st.integers(1, 100), st.integers(-5, 200)), st.sampled_from([600, 600, 599, 601, 3]), cells),
    max_size=4,
)


def _purchase_text(rows) -> bytes:
    lines = []
    for label, width, cell in rows:
        feats = ["1" if k % 7 == 0 else "0" for k in range(width)]
        feats[width // 2 if width else 0 :][:1] = [cell]
        lines.append(",".join([str(label), *feats]))
    return ("\n".join(lines) + "\n").encode()


@settings(max_examples=80)
@given(rows=purchase_rows, ops=damage)
def test_a_purchase_file_is_labels_and_binary_features_or_refused(tmp_path_factory, rows, ops):
    path = tmp_path_factory.mktemp("p") / "dataset_purchase"
    path.write_bytes(mutate(_purchase_text(rows), ops))
    got, err = outcome(parse_purchase, path, names=(str(path),))
    if err is None:
        x, y = got
        assert x.dtype == np.float32 and x.shape == (len(y), 600) and np.isin(x, (0, 1)).all()
        assert y.dtype == np.int64 and (len(y) == 0 or (y.min() >= 0 and y.max() <= 99))
    else:
        assert isinstance(err, FormatError)


# --- CIFAR-10 batches --------------------------------------------------------------------------------

arrays = st.one_of(
    st.tuples(st.integers(0, 3), st.sampled_from([3072, 3071, 10])).map(lambda s: np.zeros(s, np.uint8)),
    st.sampled_from(
        [
            np.zeros((2, 3072), np.float32),
            np.zeros((2, 3072), np.int64),
            np.zeros(3072, np.uint8),
            np.array([["a"] * 3072] * 2, dtype=object),
            np.zeros((2, 3072), np.bool_),
        ]
    ),
    st.sampled_from([None, [1, 2], "data", b"\x00" * 3072, 5]),
)
labels = st.one_of(
    st.lists(st.integers(-2, 12), max_size=4),
    st.lists(st.sampled_from([0, 1.5, "a", None, 2**70, True]), max_size=3),
    st.sampled_from([None, 3, "0123", np.arange(2)]),
)


@settings(max_examples=80)
@given(data=arrays, labs=labels, py2=st.booleans(), ops=damage, key=st.sampled_from(["data", b"data", "dat"]))
def test_a_cifar_batch_is_uint8_rows_and_labels_or_refused(tmp_path_factory, data, labs, py2, ops, key):
    batch = {key: data, "labels": labs, "batch_label": "x"}
    try:
        raw = py2_pickle(batch) if py2 else pickle.dumps(batch, protocol=2)
    except Exception:  # the Python-2 writer knows only the organisers' globals and plain arrays
        raw = pickle.dumps(batch, protocol=2)
    path = tmp_path_factory.mktemp("c") / "data_batch_1"
    path.write_bytes(mutate(raw, ops))
    got, err = outcome(read_batch, path, names=(str(path),))
    if err is None:
        x, y = got
        assert x.dtype == np.uint8 and x.ndim == 2 and x.shape[1] == 3072
        assert y.dtype == np.int64 and y.shape == (len(x),) and (len(y) == 0 or (y.min() >= 0 and y.max() <= 9))
    else:
        assert isinstance(err, FormatError)


class _HugeArray:
    """Unpickles as ``numpy.ndarray((2**40,))``: a 1 TiB allocation if the global were callable."""

    def __reduce__(self):
        return (np.ndarray, ((2**40,),))


class _ReconstructAbuse:
    """Unpickles as ``_reconstruct(ndarray, (2**40,), 'b')``: numpy's own helper, asked to allocate."""

    def __reduce__(self):
        return (np.ndarray(0).__reduce__()[0], (np.ndarray, (2**40,), b"b"))


@pytest.mark.parametrize("payload", ["marker", "huge", "reconstruct", "object_dtype"])
def test_a_cifar_batch_never_runs_code_or_allocates_for_a_stranger(tmp_path, payload):
    marker = tmp_path / "pwned"
    path = tmp_path / "data_batch_1"
    objects = {
        "huge": _HugeArray(),
        "reconstruct": _ReconstructAbuse(),
        "object_dtype": np.array([None, 1], dtype=object),
    }
    if payload == "marker":
        path.write_bytes(marker_pickle(marker))
    else:
        path.write_bytes(pickle.dumps({"data": objects[payload], "labels": [0]}, protocol=2))
    _, err = outcome(read_batch, path, names=(str(path),))
    assert isinstance(err, FormatError) and not marker.exists()


# --- the ResNet18 task's MembershipDataset -----------------------------------------------------------

IMG = torch.full((3, 32, 32), 0.5)
field_values = {
    "ids": st.one_of(
        st.just([1, 2]),
        st.sampled_from(
            [[1, 1], [1.5, 2], ["a", "b"], [2**70, 1], [True, False], 3, None, torch.tensor([1, 2]), [[1], [2]]]
        ),
    ),
    "imgs": st.one_of(
        st.just([IMG, IMG]),
        st.sampled_from(
            [
                [IMG],
                [torch.zeros(3, 32, 31)] * 2,
                [IMG.to(torch.int64)] * 2,
                [torch.full((3, 32, 32), float("nan"))] * 2,
                [IMG.clone().requires_grad_()] * 2,
                [np.zeros((3, 32, 32))] * 2,
                "imgs",
                [IMG.half()] * 2,
            ]
        ),
    ),
    "labels": st.one_of(st.just([0, 43]), st.sampled_from([[0, 44], [-1, 0], [True, 0], [0.0, 1], [0], None])),
    "membership": st.one_of(
        st.just([0, 1]), st.just([None, None]), st.sampled_from([[0, None], [2, 0], [True, 1], [torch.tensor(1), 0], 5])
    ),
}


def _save_fields(path, fields: dict, drop: str | None) -> None:
    task, member = _organiser_classes()
    obj = member()
    for name, value in fields.items():
        if name != drop:
            setattr(obj, name, value)
    if drop is not None and hasattr(obj, drop):
        delattr(obj, drop)
    with _in_main(task, member):
        torch.save(obj, path)


@settings(max_examples=80)
@given(fields=st.fixed_dictionaries(field_values), drop=st.sampled_from([None] * 6 + list(field_values)))
def test_a_membership_dataset_is_the_organisers_fields_or_refused(tmp_path_factory, fields, drop):
    path = tmp_path_factory.mktemp("t") / "pub.pt"
    _save_fields(path, fields, drop)
    split, err = outcome(read_membership_dataset, path, names=(str(path),))
    if err is None:
        n = len(split)
        assert split.images.shape == (n, 3, 32, 32) and np.isfinite(split.images).all()
        assert len(np.unique(split.ids)) == n and split.labels.min() >= 0 and split.labels.max() < N_CLASSES
        assert set(np.unique(split.membership)) <= {-1, 0, 1}
    else:
        assert isinstance(err, FormatError)


@pytest.fixture(scope="module")
def valid_pub(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("v") / "pub.pt"
    save_membership_dataset(path, [1, 2, 3], np.full((3, 3, 32, 32), 0.5, np.float32), [0, 1, 2], [0, 1, 0])
    return path.read_bytes()


@settings(max_examples=80)
@given(ops=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 100_000), st.integers(0, 255)), min_size=1, max_size=4))
def test_a_damaged_membership_dataset_loads_or_is_refused(tmp_path_factory, valid_pub, ops):
    path = tmp_path_factory.mktemp("t") / "pub.pt"
    path.write_bytes(mutate(valid_pub, ops))
    _, err = outcome(read_membership_dataset, path, names=(str(path),))
    assert err is None or isinstance(err, FormatError)


@pytest.mark.parametrize("how", ["torch.save", "inside-the-dataset", "plain-pickle", "foreign"])
def test_a_task_file_never_runs_code(tmp_path, how):
    marker = tmp_path / "pwned"
    path = tmp_path / "pub.pt"
    if how == "torch.save":
        torch.save({"x": MarkerPayload(marker)}, path)
    elif how == "inside-the-dataset":
        _save_fields(path, {"ids": [1], "imgs": [IMG], "labels": [0], "membership": [MarkerPayload(marker)]}, None)
    elif how == "plain-pickle":
        path.write_bytes(marker_pickle(marker))
    else:
        buf = io.BytesIO()
        torch.save([1, 2, 3], buf)
        path.write_bytes(buf.getvalue())
    _, err = outcome(read_membership_dataset, path, names=(str(path),))
    assert isinstance(err, FormatError) and not marker.exists()
