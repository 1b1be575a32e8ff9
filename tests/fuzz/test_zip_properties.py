"""The zip checker on hostile archives: it reads what the scorer would, or refuses with one line.

Generated zips mix valid prediction rows with stray, unsafe, symlinked, encrypted and oddly
compressed entries, then some are damaged byte by byte. Fixed cases: zip bombs (one entry, many
entries, a central directory that understates a size), symlinks, absolute and '..' names, and a
file far over the limit, each refused from the central directory before anything is inflated.
"""

from __future__ import annotations

import stat
import struct
import time
import warnings
import zipfile

import numpy as np
import pytest
from fuzz_contract import mutate, outcome, stored_zip
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.errors import SubmissionError
from toolkit.mico import check
from toolkit.mico.check import read_zip_predictions

TASK, SCEN, N_VALUES = "t", ("s_inf", "s_hi"), 10
EXPECTED = {s: {"dev": [1, 2], "final": [3]} for s in SCEN}
VALID = [f"{TASK}/{s}/{ph}/model_{i}/prediction.csv" for s in SCEN for ph, ids in EXPECTED[s].items() for i in ids]
UNSAFE = [
    "/etc/passwd",
    "t/../../evil.csv",
    "t/s_inf/dev/model_1/../../../x",
    "t\\s_inf\\dev",
    "C:/x.csv",
    "t/s_inf/dev/model_1/predic\ntion.csv",
    "t/s_inf/\x1b[2Jdev/x",
]
ODD = [
    "t/s_inf/dev/model_01/prediction.csv",
    "t/s_inf/dev/model_\u0663/prediction.csv",
    "t/s_inf/train/model_1/prediction.csv",
    "t/s_lo/dev/model_1/prediction.csv",
    "t/s_inf/.DS_Store",
    "__MACOSX/t/._x",
    "t/",
    "t/s_inf/",
    "t/s_inf/dev/",
    "t/s_inf/dev/model_1/",
    "t/junk/",
    "t/s_inf/dev/model_1/prediction.csv/",
    "other/x",
]


def _row(values) -> bytes:
    return (",".join(f"{v:.6g}" for v in values) + "\n").encode()


contents = st.one_of(
    st.lists(st.floats(0, 1), min_size=N_VALUES, max_size=N_VALUES).map(_row),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=0, max_size=2 * N_VALUES).map(_row),
    st.lists(
        st.sampled_from(["0.5", "nan", "inf", "-1", "2", "a", "", " 0.1 ", "1e-3", "1_0", "0x1"]),
        min_size=1,
        max_size=2 * N_VALUES,
    ).map(lambda v: ",".join(v).encode()),
    st.text(max_size=200).map(str.encode),
    st.binary(max_size=200),
)
entries = st.tuples(
    st.one_of(
        st.sampled_from(VALID),
        st.sampled_from(VALID),
        st.sampled_from(UNSAFE),
        st.sampled_from(ODD),
        st.text(max_size=40),
    ),
    contents,
    st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]),
    st.integers(0, 20),  # 0: a symlink entry, 1: flagged encrypted, else plain
)
damage = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 10_000), st.integers(0, 255)), max_size=3)


def _build(items) -> tuple[bytes, bool]:
    """The zip's bytes and whether an entry was made to be refused (unsafe name, symlink, encrypted)."""
    import io

    buf, refused = io.BytesIO(), False
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w") as zf:
        warnings.simplefilter("ignore")  # duplicate names are meant
        for name, data, method, roll in items:
            info = zipfile.ZipInfo(name)
            info.compress_type = method
            if roll == 0:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                refused = True
            if roll == 1 and name in VALID:
                info.flag_bits |= 0x1  # says encrypted; the data is not
                refused = True
            refused |= name in UNSAFE
            zf.writestr(info, data)
    return buf.getvalue(), refused


def _check(path, expected=EXPECTED):
    return read_zip_predictions(path, TASK, SCEN, expected, N_VALUES)


@settings(max_examples=150)
@given(items=st.lists(entries, max_size=8), ops=damage, with_expected=st.booleans())
def test_any_zip_reads_back_valid_rows_or_is_refused_in_one_line(tmp_path_factory, items, ops, with_expected):
    data, refused = _build(items)
    if ops:
        data = mutate(data, ops)
    path = tmp_path_factory.mktemp("z") / "sub.zip"
    path.write_bytes(data)
    expected = EXPECTED if with_expected else None
    found, err = outcome(_check, path, expected, names=(str(path),))
    if err is not None:
        return
    assert not refused or ops, "an unsafe, symlinked or encrypted entry was accepted"
    for scenario, phases in found.items():
        assert scenario in SCEN and set(phases) <= {"dev", "final"}
        for rows in phases.values():
            for values in rows.values():
                assert values.shape == (N_VALUES,) and np.isfinite(values).all()
                assert values.min() >= 0 and values.max() <= 1
    if expected:
        assert all(set(found[s][ph]) >= set(ids) for s in SCEN for ph, ids in EXPECTED[s].items())


def _valid_entries(n: int = N_VALUES) -> dict[str, bytes]:
    return {name: _row(np.linspace(0, 1, n)) for name in VALID}


def _zip(entries: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture
def no_inflating(monkeypatch):
    """Fail the test if any entry is opened for reading (judged from the directory alone)."""
    opened = []
    real = zipfile.ZipFile.open

    def watched(self, name, mode="r", *args, **kwargs):
        if mode == "r":
            opened.append(name)
        return real(self, name, mode, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", watched)
    return opened


def test_one_entry_bomb_is_refused_from_the_directory(tmp_path, no_inflating):
    entries = {VALID[0]: b"0," * (10 * 1024 * 1024)}  # 20 MB of one row, ~20 KB deflated
    path = tmp_path / "bomb.zip"
    path.write_bytes(_zip(entries))
    _, err = outcome(_check, path, names=(str(path),))
    assert isinstance(err, SubmissionError) and "once inflated" in str(err)
    assert no_inflating == []


def test_many_entry_bomb_stops_before_anything_is_inflated(tmp_path, no_inflating):
    big = b"0" * (60 * 1024)  # each entry under the row limit, all together over the archive's
    entries = {f"t/s_inf/dev/model_{i}/prediction.csv": big for i in range(1200)}
    path = tmp_path / "bombs.zip"
    path.write_bytes(_zip(entries))
    _, err = outcome(_check, path, names=(str(path),))
    assert isinstance(err, SubmissionError) and "inflates to" in str(err) and "nothing was decompressed" in str(err)
    assert no_inflating == []


def test_too_many_entries_stop_before_anything_is_inflated(tmp_path, no_inflating):
    path = tmp_path / "many.zip"
    path.write_bytes(stored_zip([(f"t/x{i}", b"") for i in range(check.MAX_ENTRIES + 1)]))
    _, err = outcome(_check, path, names=(str(path),))
    assert isinstance(err, SubmissionError) and "entries, over the limit" in str(err)
    assert no_inflating == []


def test_a_directory_that_understates_a_size_is_read_only_up_to_the_limit(tmp_path):
    """The central directory says 100 bytes; the deflate stream holds 50 MB: at most the row limit is inflated."""
    payload = b"0" * (50 * 1024 * 1024)
    data = bytearray(_zip({VALID[0]: payload}))
    cd = data.rindex(b"PK\x01\x02")
    data[cd + 24 : cd + 28] = struct.pack("<L", 100)  # uncompressed size in the central directory
    data[22:26] = struct.pack("<L", 100)  # and in the local header
    path = tmp_path / "liar.zip"
    path.write_bytes(bytes(data))
    start = time.perf_counter()
    _, err = outcome(_check, path, names=(str(path),))
    assert isinstance(err, SubmissionError) and VALID[0] in str(err)
    assert time.perf_counter() - start < 2  # 50 MB were never inflated


def test_symlink_entry_is_refused(tmp_path):
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, row in _valid_entries().items():
            info = zipfile.ZipInfo(name)
            if name == VALID[0]:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                row = b"/etc/passwd"
            zf.writestr(info, row)
    path = tmp_path / "link.zip"
    path.write_bytes(buf.getvalue())
    _, err = outcome(_check, path, names=(str(path),))
    assert isinstance(err, SubmissionError) and "symlink entry" in str(err)


@pytest.mark.parametrize(
    "name",
    [
        "/t/s_inf/dev/model_1/prediction.csv",
        "t/../t/s_inf/dev/model_1/prediction.csv",
        "t/s_inf/dev/model_1/../../../../etc/cron.d/x",
        "C:/t/x",
        "t/s_inf\\dev\\x",
    ],
)
def test_absolute_and_dotdot_names_are_refused(tmp_path, name):
    path = tmp_path / "unsafe.zip"
    path.write_bytes(stored_zip([*_valid_entries().items(), (name, b"0.5\n")]))
    _, err = outcome(_check, path, names=(str(path),))
    assert isinstance(err, SubmissionError) and "unsafe path" in str(err)


def test_a_file_far_over_the_limit_is_not_opened(tmp_path, monkeypatch):
    path = tmp_path / "huge.zip"
    with open(path, "wb") as f:
        f.truncate(check.OPEN_ZIP_BYTES + 1)
    monkeypatch.setattr(zipfile, "ZipFile", lambda *a, **k: pytest.fail("the zip was opened"))
    _, err = outcome(_check, path, names=(str(path),))
    assert isinstance(err, SubmissionError) and "not opened" in str(err)


def test_encrypted_and_duplicate_entries_are_refused(tmp_path):
    entries = list(_valid_entries().items())
    path = tmp_path / "dup.zip"
    path.write_bytes(stored_zip(entries + [entries[0], ("t/s_inf/dev/model_01/prediction.csv", entries[0][1])]))
    _, err = outcome(_check, path, names=(str(path),))
    assert "duplicate entry" in str(err) and "a second prediction file for model 1" in str(err)
    data = bytearray(stored_zip(entries))
    data[6] |= 0x1  # the first entry's local header says encrypted
    cd = data.index(b"PK\x01\x02")
    data[cd + 8] |= 0x1
    path.write_bytes(bytes(data))
    _, err = outcome(_check, path, names=(str(path),))
    assert "encrypted entry" in str(err)


def test_crc_damage_is_a_problem_not_a_crash(tmp_path):
    entries = _valid_entries()
    data = bytearray(stored_zip(list(entries.items())))
    data[data.index(b"0,0.111") + 2] ^= 0x01  # a changed digit in the first row: its CRC no longer matches
    path = tmp_path / "crc.zip"
    path.write_bytes(bytes(data))
    _, err = outcome(_check, path, names=(str(path),))
    assert isinstance(err, SubmissionError) and "cannot be decompressed" in str(err)
