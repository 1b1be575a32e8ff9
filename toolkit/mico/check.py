"""The checker: every format rule of the MICO scorer, all problems listed at once; then its metrics.

Rules: the zip is at most 2 MB; entries have no absolute paths or '..' (read without extracting);
its root holds only the task folder; under it exactly the track's scenario folders; each has
``dev`` and ``final`` and nothing else; every model of those phases has a ``prediction.csv`` of
one row, no header, 2m finite values in [0, 1]; nothing stray (``.DS_Store``, ``__MACOSX``…).

The zip comes from anyone (a teammate, an edit by hand), so it is judged from its central
directory before a byte is decompressed: a file far over the limit is not opened, and too many
entries, too many bytes once inflated, an entry that inflates beyond a prediction row or at a
zip bomb's ratio, a symlink, an encrypted entry, or an unsafe name are refused from the
directory alone. Each prediction file is then read through a bounded reader.
"""

from __future__ import annotations

import lzma
import re
import stat
import struct
import zipfile
import zlib
from pathlib import Path, PurePosixPath

import numpy as np

from toolkit.errors import FormatError, SubmissionError, one_line, raise_if_problems
from toolkit.mico.challenge import TARGET_PHASES
from toolkit.signals import score_problems

__all__ = ["read_zip_predictions", "MAX_ZIP_BYTES"]

MAX_ZIP_BYTES = 2 * 1024 * 1024  # the scorer's limit
OPEN_ZIP_BYTES = 16 * MAX_ZIP_BYTES  # further over it than this, the zip is not even opened
MAX_ENTRIES = 20_000  # a submission has 2 × 50 models × 3 scenarios files, plus folders
MAX_TOTAL_BYTES = 64 * 1024 * 1024  # all entries once inflated
MAX_RATIO = 200  # inflated/compressed: DEFLATE on a row of numbers gives ~2-40; bombs give ~1000
RATIO_FLOOR = 16 * 1024  # the ratio is judged only on entries this large (tiny rows compress oddly)
_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
# What a broken archive or entry can raise from zipfile and its decompressors.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
    NotImplementedError,
    RuntimeError,
    ValueError,
    struct.error,
)

_ENTRY = re.compile(rf"^(?P<scenario>[^/]+)/(?P<phase>{'|'.join(TARGET_PHASES)})/model_(?P<id>[0-9]+)/prediction\.csv$")
_DRIVE = re.compile(r"^[A-Za-z]:")


def row_limit(n_values: int) -> int:
    """The most bytes a prediction row of ``n_values`` values may hold (64 per value, 64 KiB at least)."""
    return max(64 * 1024, 64 * n_values)


def _parse_row(text: str, n: int) -> tuple[np.ndarray | None, str | None]:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    if len(lines) != 1:
        return None, f"{len(lines)} lines, expected exactly one row"
    try:
        values = np.array([float(v) for v in lines[0].split(",")])
    except ValueError:
        return None, "not all values are numbers (a header?)"
    problems = score_problems(values, n, unit=True)
    return (None, problems[0]) if problems else (values, None)


def _unsafe(name: str) -> bool:
    """An entry name that would land outside the folder it is extracted into, or that no scorer reads."""
    parts = PurePosixPath(name).parts
    return (
        not name
        or name.startswith("/")
        or "\\" in name
        or ".." in parts
        or bool(_DRIVE.match(name))
        or any(ord(c) < 32 or ord(c) == 127 for c in name)
    )


def _name_problem(info: zipfile.ZipInfo) -> str | None:
    """An unsafe name or a symlink: refused whatever the entry holds."""
    if _unsafe(info.filename):
        return f"unsafe path in zip: {info.filename!r}"
    if stat.S_ISLNK(info.external_attr >> 16):
        return f"symlink entry in zip: {info.filename!r}"
    return None


def _content_problem(info: zipfile.ZipInfo, limit: int) -> str | None:
    """What the central directory says against reading a prediction entry at all, or None."""
    if info.flag_bits & 0x1:
        return "encrypted entry (the scorer cannot read it)"
    if info.compress_type not in _METHODS:
        return f"compression method {info.compress_type} is not one zip readers share"
    if info.file_size > limit:
        return f"{info.file_size:,} bytes once inflated, over the {limit:,}-byte limit of one row"
    if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(1, info.compress_size):
        return f"inflates {info.file_size // max(1, info.compress_size)}× (a zip bomb?)"
    return None


def _archive_problems(infos: list[zipfile.ZipInfo]) -> list[str]:
    """Limits on the whole archive, judged before anything is decompressed: any of them stops the check."""
    problems = []
    if len(infos) > MAX_ENTRIES:
        problems.append(f"zip has {len(infos):,} entries, over the limit of {MAX_ENTRIES:,}")
    total = sum(i.file_size for i in infos)
    if total > MAX_TOTAL_BYTES:
        problems.append(f"zip inflates to {total:,} bytes, over the limit of {MAX_TOTAL_BYTES:,} (a zip bomb?)")
    return problems


def _allowed_dirs(task: str, scenarios: tuple[str, ...]) -> re.Pattern:
    names = "|".join(re.escape(s) for s in scenarios)
    return re.compile(rf"^{re.escape(task)}/((?:{names})/((?:dev|final)/(model_[0-9]+/)?)?)?$")


def _read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> tuple[bytes | None, str | None]:
    """At most ``limit`` bytes of one entry (its CRC checked), or why it cannot be read."""
    try:
        with zf.open(info) as f:
            raw = f.read(limit + 1)
    except _ZIP_ERRORS as exc:
        return None, f"cannot be decompressed ({type(exc).__name__}: {one_line(exc, 80)})"
    if len(raw) > limit:  # the directory understated the size
        return None, f"inflates beyond the {limit:,}-byte limit of one row"
    return raw, None


def _open(zip_path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(zip_path)
    except _ZIP_ERRORS as exc:
        raise FormatError(
            f"{zip_path} is not a valid zip file ({type(exc).__name__}: {one_line(exc, 80)})",
            "rebuild it with `mia package`",
        ) from None


def read_zip_predictions(
    zip_path: Path,
    task: str,
    scenarios: tuple[str, ...],
    expected: dict[str, dict[str, list[int]]] | None,
    n_values: int,
):
    """Check every rule; return {scenario: {phase: {model_id: values}}} or raise with all problems."""
    zip_path = Path(zip_path)
    if not zip_path.is_file():
        raise FormatError(f"no such zip: {zip_path}")
    problems: list[str] = []
    size = zip_path.stat().st_size
    if size > MAX_ZIP_BYTES:
        problems.append(f"zip is {size} bytes, over the 2 MB limit")
    if size > OPEN_ZIP_BYTES:
        raise SubmissionError(
            problems, f"{zip_path} not opened: over {OPEN_ZIP_BYTES:,} bytes; rebuild it with `mia package`"
        )
    limit = row_limit(n_values)
    dirs = _allowed_dirs(task, scenarios)
    found: dict[str, dict[str, dict[int, np.ndarray]]] = {}
    with _open(zip_path) as zf:
        infos = zf.infolist()
        fatal = _archive_problems(infos)
        if fatal:
            raise SubmissionError(
                problems + fatal, f"in {zip_path}; nothing was decompressed; rebuild it with `mia package`"
            )
        seen: set[str] = set()
        for info in infos:
            name = info.filename
            problem = _name_problem(info)
            if problem is None and name in seen:
                problem = f"duplicate entry in zip: {name!r}"
            seen.add(name)
            if problem:
                problems.append(problem)
                continue
            parts = PurePosixPath(name).parts
            if not parts or parts[0] != task:
                problems.append(f"stray entry outside the task folder {task}/: {name!r}")
                continue
            if info.is_dir():
                if not dirs.match(name):
                    problems.append(f"stray folder: {name!r}")
                continue
            match = _ENTRY.match("/".join(parts[1:]))
            if not match or match["scenario"] not in scenarios:
                problems.append(f"stray entry: {name!r}")
                continue
            err = _content_problem(info, limit)
            raw, values = None, None
            if err is None:
                raw, err = _read_entry(zf, info, limit)
            if err is None:
                values, err = _parse_row(raw.decode("utf-8", "replace"), n_values)
            if err:
                problems.append(f"{name}: {err}")
                continue
            models = found.setdefault(match["scenario"], {}).setdefault(match["phase"], {})
            if int(match["id"]) in models:  # model_3 and model_03: the scorer would read one of them
                problems.append(f"{name}: a second prediction file for model {int(match['id'])}")
                continue
            models[int(match["id"])] = values
    for scenario in scenarios:
        for phase in TARGET_PHASES:
            got = found.get(scenario, {}).get(phase, {})
            if expected is not None:
                missing = sorted(set(expected[scenario][phase]) - set(got))
                if missing:
                    problems.append(f"{scenario}/{phase}: missing prediction.csv for model(s) {missing[:8]}")
            elif not got:
                problems.append(f"{scenario}/{phase}: no predictions (both phases are required)")
    raise_if_problems(problems, hint=f"in {zip_path}; rebuild it with `mia package`")
    return found
