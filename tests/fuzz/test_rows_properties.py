"""The small text files a stranger hands over: seed files, solution/prediction rows, ``ids,score`` CSVs.

Each reader is given text and bytes built to look almost right (a stray digit, a NaN, a header, a
huge number, Unicode digits, a NUL) and plain noise; it returns what the format says or refuses
with one line naming the file.
"""

from __future__ import annotations

import numpy as np
from fuzz_contract import mutate, outcome
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.errors import FormatError
from toolkit.mico.challenge import read_seed, read_solution
from toolkit.tml.package import read_submission_csv

TOKENS = [
    "0",
    "1",
    "0.5",
    "1e-3",
    "-0",
    "nan",
    "inf",
    "-inf",
    "1e309",
    "2",
    "-1",
    "x",
    "",
    " ",
    "\t",
    "1_0",
    "٣",
    "²",
    "0x1f",
    "9" * 5000,
    "\x00",
    "1\n0",
    "\ufeff1",
    "+1",
    "1.",
    ".5",
]
noise = st.one_of(st.binary(max_size=300), st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")))


def _write(tmp_path_factory, data: bytes, name: str):
    path = tmp_path_factory.mktemp("f") / name
    path.write_bytes(data)
    return path


seed_texts = st.one_of(
    st.integers(0, 2**64).map(lambda v: f"{v}\n".encode()),
    st.lists(st.sampled_from([*TOKENS, "7835775564752058281"]), max_size=3).map(lambda v: "".join(v).encode()),
    noise,
)


@settings(max_examples=150)
@given(data=seed_texts)
def test_a_seed_file_is_a_non_negative_integer_or_refused(tmp_path_factory, data):
    path = _write(tmp_path_factory, data, "seed_challenge")
    seed, err = outcome(read_seed, path, names=(str(path),))
    if err is None:
        assert isinstance(seed, int) and seed >= 0
        assert data.strip().decode("ascii").isdigit()  # only ASCII decimal digits are a seed
    else:
        assert isinstance(err, FormatError)


rows = st.one_of(
    st.lists(st.sampled_from(TOKENS), min_size=0, max_size=12).map(lambda v: ",".join(v).encode()),
    st.lists(st.integers(0, 1), min_size=10, max_size=10).map(lambda v: (",".join(map(str, v)) + "\n").encode()),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=12).map(
        lambda v: ",".join(map(repr, v)).encode()
    ),
    noise,
)


@settings(max_examples=200)
@given(
    data=rows,
    n=st.sampled_from([None, 10]),
    binary=st.booleans(),
    ops=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 500), st.integers(0, 255)), max_size=2),
)
def test_a_row_file_is_finite_numbers_of_the_stated_count_or_refused(tmp_path_factory, data, n, binary, ops):
    path = _write(tmp_path_factory, mutate(data, ops), "solution.csv")
    values, err = outcome(read_solution, path, n, binary=binary, names=(str(path),))
    if err is None:
        assert values.dtype == np.float64 and values.ndim == 1 and np.isfinite(values).all()
        assert n is None or len(values) == n
        assert not binary or np.isin(values, (0, 1)).all()


def _csv(rows_) -> bytes:
    return ("ids,score\n" + "".join(f"{i},{s}\n" for i, s in rows_)).encode()


csv_rows = st.lists(
    st.tuples(
        st.one_of(st.integers(-(2**70), 2**70), st.sampled_from(TOKENS)),
        st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(TOKENS)),
    ),
    max_size=12,
)
csv_files = st.one_of(
    csv_rows.map(_csv),
    csv_rows.map(lambda r: _csv(r).replace(b"ids,score", b"id,score")),
    csv_rows.map(lambda r: _csv(r) + b'"unclosed,0.5\n'),
    csv_rows.map(lambda r: b"\xef\xbb\xbf" + _csv(r)),
    st.lists(st.integers(0, 5), max_size=5).map(lambda v: ("ids,score\n" + "\n".join("," * k for k in v)).encode()),
    noise,
)


@settings(max_examples=200)
@given(
    data=csv_files,
    ops=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 500), st.integers(0, 255)), max_size=2),
    with_expected=st.booleans(),
)
def test_an_ids_score_csv_is_unique_int64_ids_and_graded_scores_or_refused(tmp_path_factory, data, ops, with_expected):
    path = _write(tmp_path_factory, mutate(data, ops), "submission.csv")
    expected = np.arange(3) if with_expected else None
    got, err = outcome(read_submission_csv, path, expected, names=(str(path),))
    if err is None:
        ids, scores = got
        assert ids.dtype == np.int64 and len(np.unique(ids)) == len(ids)
        assert np.isfinite(scores).all() and (len(scores) == 0 or (scores.min() >= 0 and scores.max() <= 1))
        assert expected is None or sorted(ids.tolist()) == expected.tolist()


def test_over_long_files_are_refused_without_reading_them_whole(tmp_path):
    from toolkit.mico.challenge import MAX_ROW_BYTES, MAX_SEED_BYTES
    from toolkit.tml.package import MAX_CSV_BYTES

    for name, size, reader in (
        ("seed", MAX_SEED_BYTES, read_seed),
        ("row.csv", MAX_ROW_BYTES, read_solution),
        ("sub.csv", MAX_CSV_BYTES, read_submission_csv),
    ):
        path = tmp_path / name
        with open(path, "wb") as f:
            f.write(b"1")
            f.truncate(size + 10)
        _, err = outcome(reader, path, names=(str(path),))
        assert err is not None and "bytes" in str(err)
