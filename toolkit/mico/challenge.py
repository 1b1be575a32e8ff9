"""MICO challenge layout: the seed algorithm, splits, and model folders.

The organisers drew every split with torchcsprng's MT19937 and ``torch.randperm``; ``randperm_mt``
reproduces that permutation with numpy's legacy MT19937 (see the vectors in tests/test_challenge.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toolkit.errors import DataError, FormatError
from toolkit.io import read_bounded

__all__ = [
    "PHASES",
    "TARGET_PHASES",
    "randperm_mt",
    "read_seed",
    "Splits",
    "make_splits",
    "ModelDir",
    "list_models",
    "read_solution",
    "write_solution",
]

TARGET_PHASES = ("dev", "final")  # the phases whose models are targets: scored, packaged, checked
PHASES = ("train", *TARGET_PHASES)
_MODEL_DIR = re.compile(r"^model_([0-9]+)$")  # ASCII digits only: \d would take "model_٣" for model 3
_SEED = re.compile(r"[0-9]+")
MAX_SEED_BYTES = 256  # a seed file holds one integer; more is not a seed file, and is not read
MAX_ROW_BYTES = 1 << 20  # a solution/prediction row of 2m values is a few KB


def randperm_mt(seed: int, n: int) -> np.ndarray:
    """The permutation ``torch.randperm(n, generator=MT19937(seed))`` of the MICO organisers.

    Fisher–Yates forwards: swap r[i] with r[i + raw_i mod (n − i)] for i = 0..n−2, where raw_i is
    the i-th 32-bit output of MT19937 seeded with the low 32 bits of ``seed``.
    """
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    bitgen = np.random.RandomState(int(seed) & 0xFFFFFFFF)._bit_generator
    raw = bitgen.random_raw(n - 1).astype(np.uint64)
    steps = np.arange(n - 1, dtype=np.uint64)
    targets = (steps + raw % (np.uint64(n) - steps)).astype(np.int64).tolist()
    r = list(range(n))
    # The swaps are inherently sequential; a list loop is ~0.1 s for n = 200k.
    for i, j in enumerate(targets):
        r[i], r[j] = r[j], r[i]
    return np.asarray(r, dtype=np.int64)


def _read_bounded(path: Path, limit: int, what: str) -> bytes:
    """At most ``limit`` bytes of ``path``; a longer file is refused without reading the rest."""
    return read_bounded(path, limit, lambda: FormatError(f"{path} is over {limit:,} bytes, too long for {what}"))


def read_seed(path: Path) -> int:
    """A seed file: one non-negative decimal integer (ASCII digits) and a newline."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"seed file missing: {path}", "re-extract the challenge archive or rebuild the challenge")
    if not path.is_file():
        raise FormatError(f"seed file {path} is not a regular file")
    raw = _read_bounded(path, MAX_SEED_BYTES, "a seed file")
    text = raw.strip().decode("ascii", "replace")  # ASCII whitespace only around ASCII digits
    if not _SEED.fullmatch(text):
        raise FormatError(f"seed file {path} must hold one non-negative integer, got {text[:40]!r}")
    return int(text)


@dataclass(frozen=True)
class Splits:
    """Population indices of one model's challenge and (where its seeds are known) training data."""

    challenge: np.ndarray  # int64 [2m], row order of solution.csv / prediction.csv
    members: np.ndarray | None = None  # int64 [m]
    nonmembers: np.ndarray | None = None  # int64 [m]
    training: np.ndarray | None = None  # int64 [n − m], the non-challenge training points
    evaluation: np.ndarray | None = None  # int64 [N − 2m − (n − m)]
    solution: np.ndarray | None = None  # int64 [2m] 0/1 per challenge row

    def membership(self, population_size: int) -> np.ndarray:
        """bool [N]: True for every point in this model's training set (needs all three seeds)."""
        if self.members is None or self.training is None:
            raise DataError("membership of the whole population needs seed_training and seed_membership")
        keep = np.zeros(population_size, dtype=bool)
        keep[self.members] = True
        keep[self.training] = True
        return keep

    def training_set(self) -> np.ndarray:
        """The model's training indices, members first (the order the organisers trained on)."""
        return np.concatenate([self.members, self.training])


def make_splits(
    population_size: int,
    len_training: int,
    m: int,
    seed_challenge: int,
    seed_training: int | None = None,
    seed_membership: int | None = None,
) -> Splits:
    """Regenerate a model's splits from its seeds, exactly as the MICO organisers did."""
    N, n = population_size, len_training
    if not (0 < 2 * m <= N and m <= n <= N - m):
        raise DataError(f"inconsistent sizes N={N}, len_training={n}, m={m}")
    p1 = randperm_mt(seed_challenge, N)
    challenge, rest = p1[: 2 * m], p1[2 * m :]
    training = evaluation = members = nonmembers = solution = None
    if seed_training is not None:
        p2 = randperm_mt(seed_training, N - 2 * m)
        training, evaluation = rest[p2[: n - m]], rest[p2[n - m :]]
    if seed_membership is not None:
        p3 = randperm_mt(seed_membership, 2 * m)
        nonmembers, members = challenge[p3[:m]], challenge[p3[m:]]
        solution = np.zeros(2 * m, dtype=np.int64)
        solution[p3[m:]] = 1
    return Splits(challenge, members, nonmembers, training, evaluation, solution)


@dataclass(frozen=True)
class ModelDir:
    """One ``<scenario>/<phase>/model_<id>/`` folder."""

    path: Path
    phase: str
    model_id: int

    def seed(self, name: str) -> int | None:
        f = self.path / name
        return read_seed(f) if f.exists() else None

    def splits(self, population_size: int, len_training: int, m: int) -> Splits:
        """The model's splits from its seed files, checked against a ``solution.csv`` shipped beside them."""
        sc = self.seed("seed_challenge")
        if sc is None:
            raise DataError(f"seed file missing: {self.path / 'seed_challenge'}", "every model folder needs one")
        splits = make_splits(
            population_size, len_training, m, sc, self.seed("seed_training"), self.seed("seed_membership")
        )
        self.check_solution(splits)
        return splits

    def check_solution(self, splits: Splits) -> None:
        """A ``solution.csv`` beside the seeds (train models) must be the membership they give.

        Both come from the organisers; when they disagree the folder's files do not belong
        together, and every attack calibrated on this model would learn from wrong labels.
        """
        f = self.path / "solution.csv"
        if splits.solution is None or not f.exists():
            return
        shipped = read_solution(f, len(splits.solution), binary=True)
        differ = np.flatnonzero(shipped.astype(np.int64) != splits.solution)
        if len(differ):
            raise DataError(
                f"model {self.path}: solution.csv disagrees with the membership its seed files give "
                f"({len(differ)} of {len(shipped)} rows differ, first row {differ[0] + 1})",
                "re-extract this model folder: its seeds and solution do not belong together",
            )


def list_models(scenario_dir: Path, phase: str) -> list[ModelDir]:
    """Every ``model_<id>`` folder of a phase, by id. Counts are read, never assumed."""
    d = Path(scenario_dir) / phase
    if not d.is_dir():
        raise DataError(f"phase folder missing: {d}", "check the DATA path and that the archive is unpacked")
    found = []
    for child in d.iterdir():
        match = _MODEL_DIR.match(child.name)
        if match and child.is_dir():
            found.append(ModelDir(child, phase, int(match.group(1))))
    if not found:
        raise DataError(f"no model_<id> folders in {d}")
    found.sort(key=lambda md: (md.model_id, md.path.name))
    for a, b in zip(found, found[1:]):
        if a.model_id == b.model_id:  # model_5 and model_05: which one the scorer means is unknowable
            raise DataError(
                f"two folders for model {a.model_id} in {d}: {a.path.name}, {b.path.name}", "keep one of them"
            )
    return found


def read_solution(path: Path, n: int | None = None, *, binary: bool = False) -> np.ndarray:
    """A solution.csv (or prediction.csv): one comma-separated row of finite numbers, no header.

    ``n``: the number of values it must hold; ``binary``: every value 0 or 1 (a solution).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"file missing: {path}")
    text = _read_bounded(path, MAX_ROW_BYTES, "one row").decode("utf-8", "replace").strip()
    try:
        values = np.array([float(v) for v in text.split(",")], dtype=np.float64)
    except ValueError:
        raise FormatError(f"{path} must be one row of comma-separated numbers, no header") from None
    if n is not None and len(values) != n:
        raise FormatError(f"{path} has {len(values)} values, expected {n}")
    if not np.isfinite(values).all():
        raise FormatError(f"{path} holds NaN or infinite values", "every value must be a finite number")
    if binary and not np.isin(values, (0.0, 1.0)).all():
        other = values[~np.isin(values, (0.0, 1.0))][0]
        raise FormatError(f"{path} must hold only 0 and 1 (a solution), found {other:g}")
    return values


def write_solution(path: Path, values: np.ndarray, fmt: str = "%d") -> None:
    """Write one comma-separated row (no header, newline-terminated) atomically."""
    from toolkit.io import atomic_write_text

    atomic_write_text(Path(path), ",".join(fmt % v for v in np.asarray(values)) + "\n")
