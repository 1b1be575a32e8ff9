"""The decision rules of ``recipe = "auto"``: how one validation ranking becomes one submission, for every kind.

Under DP every candidate's validation figure carries a CI of ±0.02–0.03, wider than most gaps
between families, so which rule turns the ranking into a choice matters as much as the ranking.
Each rule sees only the validation split (a ``Table`` of every candidate's pooled scores) and
returns a ``Pick``: one candidate, or several whose per-target ranks are averaged.

- ``best``: the top validation figure (ties to the simpler candidate);
- ``simplest_in_ci``: the simplest candidate whose paired-bootstrap gain against the best contains
  zero (the toolkit's first rule);
- ``shrunk``: every figure shrunk toward its family's mean relative figure on other archives
  (empirical Bayes; Efron & Morris 1975): d̃ = (τ²·d + se²·μ_family) / (τ² + se²), where d is the
  candidate's figure minus the scenario's best, se its bootstrap standard error, and μ_family, τ²
  come from a ``Prior`` fitted on other archives (``fit_prior``);
- ``rank_top3`` / ``rank_top5``: the mean per-target rank of the k best distinct recipes (a small
  ensemble; rank averaging needs no fitted weights, so it cannot overfit the split);
- ``fusion`` / ``fusion_lowfpr``: always the out-of-fold stacker (plain, or fitted with the rows
  of the low-FPR region up-weighted, ``attacks.fusion``).

Which rule is a kind's default (``DEFAULT_RULE`` of ``mico.auto`` and of ``tml.validation``) is measured,
not assumed: ``benchmarks/selection.py`` scores every rule's final-phase (or hidden-answer) regret over many
local archives or practice tasks and picks the lowest leave-one-archive-out. A track names another with
``recipe = { attack = "auto", rule = "best" }`` (``named_rule``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from toolkit.choose.calibration import combine
from toolkit.errors import ConfigError
from toolkit.metrics import gain_ci, objective_value, selection_corrected

__all__ = [
    "Table",
    "Pick",
    "Prior",
    "RULES",
    "FUSION",
    "FUSION_LOWFPR",
    "apply_rule",
    "named_rule",
    "fit_prior",
    "load_prior",
    "order",
    "corrected_estimate",
]

FUSION = "fusion"
FUSION_LOWFPR = "fusion(low-FPR weighted)"
PRIOR_FILE = Path(__file__).with_name("selection_prior.json")
_Z95 = 1.959964
_TAU2_FLOOR = 1e-4  # (0.01)²: families never known better than a point of TPR apart


@dataclass(frozen=True, eq=False)
class Table:
    """Every candidate's pooled validation scores in one scenario (rows of ``scores`` follow ``labels``)."""

    labels: tuple[str, ...]
    families: tuple[str, ...]
    recipes: tuple[str, ...]  # the recipe behind each label (one recipe under several transforms)
    simplicity: tuple[tuple[int, int], ...]
    scores: np.ndarray  # float64 [K, n]
    y: np.ndarray  # int64 [n]
    groups: np.ndarray | None  # int64 [n], the target model of each row; None: one target, rows resampled alone
    objective: np.ndarray  # float64 [K]
    ci: np.ndarray  # float64 [K, 2]
    fpr: float
    dp: bool
    tpr: np.ndarray | None = None  # float64 [K], strict TPR at ``fpr`` (``ranking.rank`` fills it)
    auc: np.ndarray | None = None  # float64 [K]

    def index(self, label: str) -> int:
        return self.labels.index(label)

    def take(self, rows: Sequence[int]) -> Table:
        """The table of candidates ``rows`` only (in that order), on the same validation rows."""
        rows = list(rows)
        per_row = {k: tuple(getattr(self, k)[i] for i in rows) for k in ("labels", "families", "recipes", "simplicity")}
        arrays = {k: None if getattr(self, k) is None else getattr(self, k)[rows] for k in ("tpr", "auc")}
        return Table(**per_row, scores=self.scores[rows], y=self.y, groups=self.groups,
                     objective=self.objective[rows], ci=self.ci[rows], fpr=self.fpr, dp=self.dp, **arrays)  # fmt: skip

    def se(self) -> np.ndarray:
        """Each figure's standard error, from its 95% bootstrap interval."""
        return np.maximum((self.ci[:, 1] - self.ci[:, 0]) / (2 * _Z95), 1e-6)

    def relative(self) -> np.ndarray:
        """Each figure minus the scenario's best (≤ 0): comparable across scenarios of other difficulty."""
        return self.objective - self.objective.max()


@dataclass(frozen=True)
class Pick:
    """What a rule submits: one candidate (``combine = "one"``) or the mean per-target rank of several."""

    rule: str
    labels: tuple[str, ...]
    combine: str = "one"
    note: str = ""

    def label(self) -> str:
        """The pick as one label: its candidate's, or the mean rank of its candidates'."""
        return self.labels[0] if len(self.labels) == 1 else f"mean rank of {' + '.join(self.labels)}"


@dataclass(frozen=True)
class Prior:
    """Per (DP or not, family): the mean relative validation figure on other archives, and τ² per DP class."""

    means: dict[tuple[bool, str], float]
    tau2: dict[bool, float]

    def as_dict(self) -> dict:
        return {
            "means": [{"dp": dp, "family": f, "mean": v} for (dp, f), v in sorted(self.means.items())],
            "tau2": {str(dp).lower(): v for dp, v in self.tau2.items()},
        }

    @classmethod
    def from_dict(cls, data: dict) -> Prior:
        try:
            means = {(bool(r["dp"]), str(r["family"])): float(r["mean"]) for r in data["means"]}
            tau2 = {k == "true": float(v) for k, v in data["tau2"].items()}
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ConfigError("the selection prior is not a {means, tau2} table", "write it again") from None
        return cls(means, tau2)


def order(table: Table) -> list[int]:
    """Row indices from the best validation figure down (ties to the simpler candidate)."""
    return sorted(range(len(table.labels)), key=lambda i: (-table.objective[i], table.simplicity[i]))


def _best(table: Table, **_) -> Pick:
    return Pick("best", (table.labels[order(table)[0]],))


def _simplest_in_ci(table: Table, *, n_boot: int = 200, seed: int = 0, **_) -> Pick:
    rows = order(table)
    best = rows[0]
    simpler = sorted(
        (i for i in rows[1:] if table.simplicity[i] < table.simplicity[best]),
        key=lambda i: (table.simplicity[i], -table.objective[i]),
    )
    for i in simpler:
        _, lo, _ = gain_ci(
            table.y, table.scores[best], table.scores[i], table.groups, table.fpr, n_boot=n_boot, seed=seed
        )
        if lo <= 0.0:
            return Pick("simplest_in_ci", (table.labels[i],), note=f"within the CI of {table.labels[best]}: simpler")
    return Pick("simplest_in_ci", (table.labels[best],))


def _shrunk(table: Table, *, prior: Prior | None = None, **_) -> Pick:
    if prior is None:
        return Pick("shrunk", _best(table).labels, note="no prior: the best figure")
    d, se2 = table.relative(), table.se() ** 2
    tau2 = prior.tau2.get(table.dp, _TAU2_FLOOR)
    mu = np.array([prior.means.get((table.dp, f), np.nan) for f in table.families])
    mu = np.where(np.isfinite(mu), mu, d)  # a family the prior has not seen keeps its own figure
    post = (tau2 * d + se2 * mu) / (tau2 + se2)
    i = min(range(len(post)), key=lambda k: (-post[k], table.simplicity[k]))
    return Pick("shrunk", (table.labels[i],), note=f"shrunk figure {post[i] + table.objective.max():.4f}")


def _rank_top(k: int) -> Callable[..., Pick]:
    def rule(table: Table, **_) -> Pick:
        chosen, seen = [], set()
        for i in order(table):
            if table.families[i] == FUSION or table.recipes[i] in seen:
                continue  # transforms keep each target's order: one recipe counts once
            seen.add(table.recipes[i])
            chosen.append(table.labels[i])
            if len(chosen) == k:
                break
        return Pick(f"rank_top{k}", tuple(chosen), "rank_mean" if len(chosen) > 1 else "one")

    return rule


def _always(label: str, name: str) -> Callable[..., Pick]:
    def rule(table: Table, **kw) -> Pick:
        if label in table.labels:
            return Pick(name, (label,))
        return Pick(name, _best(table).labels, note=f"{label} could not be fitted: the best figure")

    return rule


RULES: dict[str, Callable[..., Pick]] = {
    "best": _best,
    "simplest_in_ci": _simplest_in_ci,
    "shrunk": _shrunk,
    "rank_top3": _rank_top(3),
    "rank_top5": _rank_top(5),
    "fusion": _always(FUSION, "fusion"),
    "fusion_lowfpr": _always(FUSION_LOWFPR, "fusion_lowfpr"),
}


def apply_rule(name: str, table: Table, *, prior: Prior | None = None, n_boot: int = 200, seed: int = 0) -> Pick:
    """The candidate(s) rule ``name`` submits for this validation table."""
    if name not in RULES:
        raise ConfigError(f"unknown auto rule {name!r}; valid: {', '.join(RULES)}")
    return RULES[name](table, prior=prior, n_boot=n_boot, seed=seed)


def named_rule(params: Mapping, default: str, *, ignored: tuple[str, ...] = ()) -> str:
    """The decision rule an ``auto`` recipe's ``params`` name (``rule = "..."``), checked; ``default`` where they
    name none. A parameter other than ``rule`` (and ``ignored``) is an error."""
    unknown = sorted(set(params) - {"rule", *ignored})
    if unknown:
        raise ConfigError(f"recipe auto has no parameter(s) {', '.join(unknown)}; valid: rule")
    rule = str(params.get("rule", default))
    if rule not in RULES:
        raise ConfigError(f"unknown auto rule {rule!r}; valid: {', '.join(RULES)}")
    return rule


SELECTION_TOP = 15  # candidates the resampled selections choose among (lower ones are not picked there)


def corrected_estimate(
    table: Table, rule: str, *, prior: Prior | None = None, top: int = SELECTION_TOP, n_boot: int = 200, seed: int = 0
) -> dict:
    """The pick's figure corrected for the choice: ``rule`` re-run on every bootstrap resample of the validation
    split (target models, or rows where ``table.groups`` is None), scored on what it left out
    (``metrics.selection_corrected``, BBC-CV).

    The resampled tables hold the ``top`` best candidates, keep the whole split's CIs (what ``shrunk``
    reads) and give ``simplest_in_ci`` a 50-resample inner bootstrap: the rule as run, cheaper.
    """
    best = table.take(order(table)[:top])

    def pick(y, scores, groups):
        objective = np.array([objective_value(y, s, table.fpr)[0] for s in scores])
        resampled = replace(best, scores=scores, y=y, groups=groups, objective=objective, tpr=None, auc=None)
        chosen = apply_rule(rule, resampled, prior=prior, n_boot=50, seed=seed)
        rows = [best.index(label) for label in chosen.labels]
        return lambda held, held_groups: combine([held[i] for i in rows], held_groups, chosen.combine)

    return selection_corrected(
        table.y, best.scores, pick, fpr_x=table.fpr, groups=table.groups, n_boot=n_boot, seed=seed
    )


def fit_prior(tables: Sequence[Table]) -> Prior:
    """Family means of the relative validation figure over ``tables``, and τ² (their spread less the noise)."""
    means, tau2 = {}, {}
    for dp in (False, True):
        rows = [(f, d, s) for t in tables if t.dp == dp for f, d, s in zip(t.families, t.relative(), t.se())]
        if not rows:
            continue
        fams = sorted({f for f, _, _ in rows})
        for f in fams:
            means[(dp, f)] = float(np.mean([d for g, d, _ in rows if g == f]))
        resid = np.array([d - means[(dp, f)] for f, d, _ in rows])
        noise = np.mean([s**2 for _, _, s in rows])
        tau2[dp] = float(max(resid.var() - noise, _TAU2_FLOOR))
    return Prior(means, tau2)


def load_prior(path: Path = PRIOR_FILE) -> Prior | None:
    """The prior shipped with the toolkit (written by ``benchmarks/selection.py --write-prior``), if any."""
    if not Path(path).is_file():
        return None
    return Prior.from_dict(json.loads(Path(path).read_text()))
