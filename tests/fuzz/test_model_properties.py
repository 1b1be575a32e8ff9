"""Model files from strangers: a loaded model of finite weights, or one ``ModelError`` line naming the file.

Files are a real state dict damaged byte by byte, state dicts with wrong keys, shapes, dtypes,
NaN/Inf weights or non-tensor values, objects that are not state dicts, and pickles whose loading
would run code (they would create a marker file: it must never appear).
"""

from __future__ import annotations

import io
import math
import pickle
from collections import OrderedDict

import pytest
import torch
from fuzz_contract import MarkerPayload, marker_pickle, mutate, outcome
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.errors import ModelError
from toolkit.models import build_model, load_model, load_state_dict

ARCH, CLASSES = "demo_mlp", 10


@pytest.fixture(scope="module")
def state() -> dict:
    torch.manual_seed(0)
    return build_model(ARCH, CLASSES).state_dict()


@pytest.fixture(scope="module")
def saved(state) -> bytes:
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def _load(path):
    model = load_model(ARCH, path, CLASSES)
    assert all(bool(torch.isfinite(v).all()) for v in model.state_dict().values() if v.is_floating_point())
    return model


@settings(max_examples=150)
@given(ops=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 100_000), st.integers(0, 255)), min_size=1, max_size=4))
def test_a_damaged_model_file_loads_or_is_one_model_error(tmp_path_factory, saved, ops):
    path = tmp_path_factory.mktemp("m") / "model.pt"
    path.write_bytes(mutate(saved, ops))
    _, err = outcome(_load, path, names=(str(path),))
    assert err is None or isinstance(err, ModelError)


def _variant(state: dict, kind: str, key_index: int) -> object:
    """The state dict changed one way (``kind``) at the ``key_index``-th entry."""
    keys = list(state)
    key = keys[key_index % len(keys)]
    out = OrderedDict(state)
    value = state[key]
    if not isinstance(value, torch.Tensor) or not isinstance(key, str):  # an earlier change made it no weight
        return out
    if kind == "drop":
        out.pop(key)
    elif kind == "rename":
        out[key + ".x"] = out.pop(key)
    elif kind == "extra":
        out["extra.weight"] = torch.zeros(3)
    elif kind == "shape":
        out[key] = torch.zeros(*[d + 1 for d in value.shape])
    elif kind in ("nan", "inf"):
        # an earlier variant may have made it sparse, or an integer or bool tensor, which cannot hold NaN
        dense = value.to_dense() if value.is_sparse else value
        bad = dense.clone() if dense.is_floating_point() or dense.is_complex() else dense.to(torch.float32)
        bad.view(-1)[0] = math.nan if kind == "nan" else -math.inf
        out[key] = bad
    elif kind == "int_key":
        out[7] = out.pop(key)
    elif kind == "not_tensor":
        out[key] = [1.0, 2.0]
    elif kind == "nested":
        return {"state_dict": dict(state), "epoch": 3}
    elif kind in ("float16", "int64", "bool", "complex64"):
        out[key] = value.to(getattr(torch, kind))
    elif kind == "duplicate":
        out["_module." + key] = value.clone()
    elif kind == "prefix":
        return OrderedDict(
            (f"_module.{k}", v) for k, v in state.items()
        )  # an earlier variant may have made a key an int
    elif kind == "list":
        return list(state.values())
    elif kind == "tensor":
        return value
    elif kind == "scalar":
        return 42
    elif kind == "sparse":
        out[key] = value.to_sparse() if value.dim() else value
    return out


KINDS = [
    "drop",
    "rename",
    "extra",
    "shape",
    "nan",
    "inf",
    "int_key",
    "not_tensor",
    "nested",
    "float16",
    "int64",
    "bool",
    "complex64",
    "duplicate",
    "prefix",
    "list",
    "tensor",
    "scalar",
    "sparse",
    "none",
]


@settings(max_examples=120)
@given(kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=2), key_index=st.integers(0, 100))
def test_a_state_dict_that_does_not_fit_is_one_model_error(tmp_path_factory, state, kinds, key_index):
    obj = state
    for kind in kinds:
        obj = _variant(obj, kind, key_index) if isinstance(obj, dict) else obj
    path = tmp_path_factory.mktemp("m") / "model.pt"
    torch.save(obj, path)
    model, err = outcome(_load, path, names=(str(path),))
    assert err is None or isinstance(err, ModelError)
    if set(kinds) & {"nan", "inf", "int_key", "not_tensor", "nested", "list", "tensor", "scalar", "shape", "drop"}:
        assert err is not None, f"{kinds} was accepted"


@pytest.mark.parametrize("how", ["torch.save", "pickle", "pickle-protocol-0", "inside-a-state-dict"])
def test_a_pickle_that_would_run_code_never_runs_it(tmp_path, state, how):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    if how == "torch.save":
        torch.save(MarkerPayload(marker), path)
    elif how == "inside-a-state-dict":
        torch.save({**state, "payload": MarkerPayload(marker)}, path)
    else:
        path.write_bytes(marker_pickle(marker, protocol=0 if how.endswith("0") else 2))
    for fn in (load_state_dict, lambda p: load_model(ARCH, p, CLASSES)):
        _, err = outcome(fn, path, names=(str(path),))
        assert isinstance(err, ModelError)
    assert not marker.exists()


def test_a_pickle_of_a_whole_module_is_refused(tmp_path):
    path = tmp_path / "model.pt"
    torch.save(torch.nn.Linear(3, 2), path)  # a pickled nn.Module: classes, not weights
    _, err = outcome(load_state_dict, path, names=(str(path),))
    assert isinstance(err, ModelError) and "weights_only" in str(err)
    path.write_bytes(pickle.dumps([1, 2, 3]))
    _, err = outcome(load_state_dict, path, names=(str(path),))
    assert isinstance(err, ModelError)
