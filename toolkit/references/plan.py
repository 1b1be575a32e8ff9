"""Which rows each reference model trains on: keep masks and plans, IN for half of the references per point.

Keep masks come in complementary pairs: for pair j a random half of the pool is IN for model 2j
and the other half for model 2j + 1, so every pool point is IN for exactly half of any even
prefix of the models (the balanced IN/OUT statistics online LiRA needs, as in Carlini et al.'s
reference code), and a folder grown from 8 to 16 models keeps its first 8 as they were.
(``balanced_keep``, the reference code's per-point permutation, is kept for fixed counts.)

``PooledPlan`` (a scenario's pool of challenge points filled up to n rows from the rest of the
population) and ``MatchedPlan`` (one target's known rows plus half of its challenge points) give
each reference's training rows in order, and its membership at any points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toolkit.errors import ConfigError
from toolkit.io import sha256_bytes

__all__ = [
    "balanced_keep",
    "paired_keep",
    "check_even",
    "PooledPlan",
    "MatchedPlan",
]


def check_even(n_models: int) -> None:
    """A ``ConfigError`` unless ``n_models`` is an even number ≥ 2."""
    if n_models < 2 or n_models % 2:
        raise ConfigError(
            f"shadow models must come in an even number ≥ 2 (half IN, half OUT per point), got {n_models}"
        )


def _pool_mask(n_points: int, pool) -> np.ndarray:
    inside = np.zeros(n_points, dtype=bool)
    inside[np.arange(n_points) if pool is None else np.asarray(pool, dtype=np.int64)] = True
    return inside


def balanced_keep(n_models: int, n_points: int, seed: int = 0, pool: np.ndarray | None = None) -> np.ndarray:
    """bool [n_models, n_points]: each point of ``pool`` (default: all) IN for exactly n_models/2 models.

    Vectorised LiRA trick: ranks of i.i.d. uniforms along the model axis are a uniform random
    permutation per point; rank < n_models/2 means IN. Points outside ``pool`` are never IN.
    """
    check_even(n_models)
    rng = np.random.default_rng(seed)
    ranks = rng.random((n_models, n_points)).argsort(0).argsort(0)
    return (ranks < n_models // 2) & _pool_mask(n_points, pool)[None, :]


def paired_keep(n_models: int, n_points: int, seed: int = 0, pool: np.ndarray | None = None) -> np.ndarray:
    """bool [n_models, n_points]: pair j splits ``pool`` into a random half (model 2j) and its complement.

    Pair j's split depends on (seed, j) alone, so the mask of n models is a prefix of the mask of
    any larger count.
    """
    check_even(n_models)
    inside = _pool_mask(n_points, pool)
    members = np.flatnonzero(inside)
    keep = np.zeros((n_models, n_points), dtype=bool)
    for j in range(n_models // 2):  # one permutation per pair of models, not per point
        half = np.random.default_rng([seed, j]).permutation(members)[: len(members) // 2]
        keep[2 * j, half] = True
        keep[2 * j + 1] = inside & ~keep[2 * j]
    return keep


@dataclass(frozen=True, eq=False)
class PooledPlan:
    """Reference i's training rows: half of the challenge-point pool (pair j's split) and filler rows.

    ``pool`` is the sorted union of the scenario's challenge points; the rest of each training set
    (n − |half| rows) is drawn without replacement from the population outside the pool. Where the
    pool holds over 2n points (a toy population such as the demo's), each model takes n of its half,
    so a point is IN for n/|pool| of the references instead of half (``in_rate``).
    """

    population_size: int
    pool: np.ndarray
    len_training: int
    seed: int = 0

    def __post_init__(self):
        inside = min(len(self.pool) - len(self.pool) // 2, self.len_training)
        if self.len_training - inside > self.population_size - len(self.pool):
            raise ConfigError(
                f"a reference of {self.len_training:,} rows needs {self.len_training - inside:,} rows "
                f"outside the {len(self.pool):,} challenge points, and the population has "
                f"{self.population_size - len(self.pool):,}",
                "lower len_training in [references]",
            )

    @property
    def in_rate(self) -> float:
        """The share of references each challenge point is IN for: ½, less where the pool is over 2n points."""
        return min(0.5, self.len_training / max(1, len(self.pool)))

    def describe(self) -> dict:
        return {
            "plan": "pooled",
            "population_size": self.population_size,
            "pool": sha256_bytes(np.asarray(self.pool, dtype=np.int64).tobytes())[:16],
            "pool_size": len(self.pool),
            "len_training": self.len_training,
            "seed": self.seed,
        }

    def _halves(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Pair j's IN pool points: a random half and its complement (each cut to n where the pool is over 2n)."""
        perm = np.random.default_rng([self.seed, j]).permutation(len(self.pool))
        cut, n = len(self.pool) // 2, self.len_training
        return self.pool[np.sort(perm[:cut][:n])], self.pool[np.sort(perm[cut:][:n])]

    def training_set(self, i: int) -> np.ndarray:
        """int64 population rows of reference ``i``, in its training order."""
        j, side = divmod(i, 2)
        inside = self._halves(j)[side]
        outside = np.setdiff1d(np.arange(self.population_size), self.pool, assume_unique=True)
        fill = np.random.default_rng([self.seed, j, side + 1]).choice(
            outside, size=self.len_training - len(inside), replace=False
        )
        rows = np.concatenate([inside, fill])
        return rows[np.random.default_rng([self.seed, j, side + 3]).permutation(len(rows))]

    def keep(self, n_models: int, points: np.ndarray) -> np.ndarray:
        """bool [n_models, len(points)]: reference membership at ``points`` (pool points only)."""
        out = np.zeros((n_models, len(points)), dtype=bool)
        for i in range(n_models):
            out[i] = np.isin(points, self._halves(i // 2)[i % 2])
        return out


@dataclass(frozen=True, eq=False)
class MatchedPlan:
    """References matched to one target (the ddp track): its known training rows plus half of its challenge.

    The target reveals ``seed_training``, so its training set is known but for which 100 of its 200
    challenge points are members. Reference i trains on a random half of the challenge points (pair
    j's split, first, as the organisers put members first) and then the target's other training rows,
    so each challenge point has IN and OUT references that differ from the target only there.
    """

    challenge: np.ndarray  # int64 [2m], the target's challenge points
    base: np.ndarray  # int64 [n − m], its known non-challenge training rows, in order
    seed: int = 0

    def describe(self) -> dict:
        digest = sha256_bytes(np.concatenate([self.challenge, self.base]).astype(np.int64).tobytes())[:16]
        return {"plan": "matched", "rows": digest, "seed": self.seed}

    def _halves(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        perm = np.random.default_rng([self.seed, j]).permutation(len(self.challenge))
        cut = len(self.challenge) // 2
        return self.challenge[perm[:cut]], self.challenge[perm[cut:]]

    def training_set(self, i: int) -> np.ndarray:
        return np.concatenate([self._halves(i // 2)[i % 2], self.base]).astype(np.int64)

    def keep(self, n_models: int, points: np.ndarray) -> np.ndarray:
        out = np.zeros((n_models, len(points)), dtype=bool)
        in_base = np.isin(points, self.base)
        for i in range(n_models):
            out[i] = in_base | np.isin(points, self._halves(i // 2)[i % 2])
        return out
