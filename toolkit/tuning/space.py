"""The search of ``mia tune``: attack families and their parameters as Optuna distributions, and the study.

The space is read from the registry: each family registers a tuning range for every keyword
parameter (``attacks.registry.register``), which becomes one Optuna distribution —

- ``Choice``     → categorical over its values
- ``FloatRange`` → uniform (or log-uniform) float
- ``IntRange``   → uniform (or log-uniform) int
- ``FIXED``      → not searched: the parameter stays at its default (data arguments, e.g. ``train_logits``, too)

The space is conditional (Optuna's define-by-run): a trial first picks ``attack``, then only that
family's parameters, named ``<attack>.<param>`` so that two families never share a parameter.
Where more than one query view is cached, ``views`` picks all of them (averaged by the attack) or
one. Normalisation is not searched: ``scoring.normalise`` is one monotone map of a whole phase, so
it cannot change a pooled ROC and would only add noise to the search.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from toolkit.attacks.registry import FIXED, Choice, FloatRange, attack_params, attack_spec, check_attack_names
from toolkit.errors import ConfigError, DataError, ToolkitError
from toolkit.mico.scenario import PhaseArrays
from toolkit.tracks import Recipe
from toolkit.tuning.resume import FinishedSeededTPE, fail_orphans

__all__ = [
    "ALL_VIEWS",
    "SearchPoint",
    "param_distribution",
    "attack_space",
    "suggest_candidate",
    "candidate_from_params",
    "params_of",
    "parse_attacks",
    "Objective",
    "open_study",
    "enqueue_default",
    "optimise",
    "public_url",
]

ALL_VIEWS = "all"


@dataclass(frozen=True)
class SearchPoint:
    """What one trial evaluates: a recipe and the query views it reads (``all`` or one name)."""

    recipe: Recipe
    views: str = ALL_VIEWS

    def select(self, arrays: PhaseArrays, view_names: tuple[str, ...]) -> PhaseArrays:
        """The arrays restricted to this candidate's views (axis -2 of target and ref)."""
        if self.views == ALL_VIEWS:
            return arrays
        if self.views not in view_names:
            raise ConfigError(f"view {self.views!r} is not cached; cached views: {', '.join(view_names)}")
        v = view_names.index(self.views)
        return replace(arrays, target=arrays.target[:, v : v + 1], ref=arrays.ref[:, :, v : v + 1])

    def as_dict(self) -> dict[str, Any]:
        return {"recipe": self.recipe.as_dict(), "views": self.views}


def param_distribution(name: str, param: str) -> BaseDistribution | None:
    """The distribution of one attack parameter, from its registered range; None = ``FIXED``, keep the default."""
    tuning = attack_spec(name).tuning[param]
    if tuning == FIXED:
        return None
    if isinstance(tuning, Choice):
        return CategoricalDistribution(tuning.values)
    dist = FloatDistribution if isinstance(tuning, FloatRange) else IntDistribution
    return dist(tuning.low, tuning.high, log=tuning.log)


def attack_space(name: str) -> dict[str, BaseDistribution]:
    """``{param: distribution}`` of one attack family (only the parameters that are searched), in signature order."""
    space = {}
    for param in attack_params(name):
        dist = param_distribution(name, param)
        if dist is not None:
            space[param] = dist
    return space


def parse_attacks(spec: str | Iterable[str] | None) -> list[str]:
    """``"hardness,lira"`` (or the names) → checked names; None or empty → every registered attack."""
    return check_attack_names(spec.split(",") if isinstance(spec, str) else spec)


def _suggest(trial: optuna.Trial, name: str, dist: BaseDistribution):
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, log=dist.log)
    return trial.suggest_int(name, dist.low, dist.high, log=dist.log)


def suggest_candidate(trial: optuna.Trial, attacks: list[str], view_names: tuple[str, ...]) -> SearchPoint:
    """Define-by-run: ``attack`` first, then ``<attack>.<param>`` for that family, then ``views``."""
    name = trial.suggest_categorical("attack", list(attacks))
    params = {p: _suggest(trial, f"{name}.{p}", d) for p, d in attack_space(name).items()}
    views = ALL_VIEWS
    if len(view_names) > 1:
        views = trial.suggest_categorical("views", (ALL_VIEWS, *view_names))
    return SearchPoint(Recipe(name, _plain(params)), views)


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    """numpy scalars → Python values, so that recipes compare equal and serialise as JSON."""
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in params.items()}


def candidate_from_params(params: Mapping[str, Any]) -> SearchPoint:
    """Rebuild a trial's candidate from its ``trial.params``."""
    name = params["attack"]
    prefix = f"{name}."
    chosen = {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}
    return SearchPoint(Recipe(name, _plain(chosen)), params.get("views", ALL_VIEWS))


def _inside(dist: BaseDistribution, value: Any) -> bool:
    if isinstance(dist, CategoricalDistribution):
        return value in dist.choices
    return isinstance(value, (int, float)) and dist.low <= value <= dist.high


def params_of(candidate: SearchPoint, attacks: list[str], view_names: tuple[str, ...]) -> dict[str, Any] | None:
    """The trial params that reproduce ``candidate`` (to enqueue it), or None if it lies outside the space.

    Searched parameters the recipe leaves out take the attack's defaults, as the recipe does.
    """
    name = candidate.recipe.attack
    if name not in attacks:
        return None
    defaults = attack_params(name)
    unknown = set(candidate.recipe.params) - set(defaults)
    if unknown:
        return None
    space = attack_space(name)
    params: dict[str, Any] = {"attack": name}
    for p, default in defaults.items():
        value = candidate.recipe.params.get(p, default)
        if p not in space:
            if value != default:
                return None  # a fixed parameter at a non-default value cannot be reproduced
        elif not _inside(space[p], value):
            return None
        else:
            params[f"{name}.{p}"] = value
    if len(view_names) > 1:
        params["views"] = candidate.views
    return params


# ---- the study: one per scenario, in any Optuna RDB storage ----------------------------------------


@dataclass
class Objective:
    """Optuna objective: ``score(candidate, report) -> (objective, tpr, auc)``; identical parameters are scored once.

    ``score`` closes over fold arrays loaded once, so a trial costs only the attack itself; it calls
    ``report(step, value)`` after each fold but the last, which may stop the trial (pruning).
    """

    score: Callable[[SearchPoint, Callable[[int, float], None]], tuple[float, float, float]]
    attacks: list[str]
    view_names: tuple[str, ...]
    seen: dict = field(default_factory=dict)

    def _known(self, trial: optuna.Trial) -> tuple | None:
        key = tuple(sorted(trial.params.items()))
        if key in self.seen:
            return self.seen[key]
        # other workers (shared storage) or an earlier run may have scored these parameters already
        for t in trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
            if t.params == trial.params and "tpr" in t.user_attrs:
                return t.value, t.user_attrs["tpr"], t.user_attrs["AUC"]
        return None

    def __call__(self, trial: optuna.Trial) -> float:
        cand = suggest_candidate(trial, self.attacks, self.view_names)
        value = self._known(trial)
        if value is None:
            t0 = time.perf_counter()
            value = self.score(cand, lambda step, v: _report(trial, step, v))
            trial.set_user_attr("seconds", time.perf_counter() - t0)
        self.seen[tuple(sorted(trial.params.items()))] = value
        trial.set_user_attr("tpr", value[1])
        trial.set_user_attr("AUC", value[2])
        return value[0]


def _report(trial: optuna.Trial, step: int, value: float) -> None:
    """An intermediate objective (after ``step + 1`` folds); a poor, expensive trial stops early."""
    trial.report(value, step)
    if trial.should_prune():
        raise optuna.TrialPruned()


def open_study(storage: str, name: str, seed: int, shared: bool) -> optuna.Study:
    """Create or load (``load_if_exists``) a maximising study with a seeded multivariate TPE sampler.

    A percentile pruner stops a trial whose objective after the first folds lies in the bottom
    quarter of earlier trials at that fold: expensive families (ensemble) then cost one fold. The
    sampler is ``FinishedSeededTPE``: a resumed local study draws what an undisturbed one would,
    after the trials a killed run left RUNNING are failed (``fail_orphans``). Workers of a shared
    study add their process id to the seed, or they would all draw the same start-up trials.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        pruner = optuna.pruners.PercentilePruner(25.0, n_startup_trials=8, n_warmup_steps=0)
        study = _create_or_load(storage, name, pruner)
    fail_orphans(study)
    study.sampler = FinishedSeededTPE(seed + (os.getpid() if shared else 0))
    return study


def public_url(url: str) -> str:
    """A storage URL without its password (for messages and JSON files)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:  # not an SQLAlchemy URL: keep only what precedes any credentials
        return url.split("://", 1)[0] + "://..."


def _create_or_load(storage: str, name: str, pruner, attempts: int = 5) -> optuna.Study:
    """``create_study(load_if_exists=True)``, retried: workers started together race to create the
    storage's tables and the study itself, and the loser sees an integrity error once."""
    from sqlalchemy.exc import SQLAlchemyError

    def create():
        return optuna.create_study(
            storage=storage, study_name=name, direction="maximize", load_if_exists=True, pruner=pruner
        )

    for attempt in range(attempts - 1):
        try:
            return create()
        except SQLAlchemyError:
            time.sleep(0.2 * (attempt + 1))
    try:
        return create()
    except (SQLAlchemyError, ImportError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ConfigError(
            f"cannot open the Optuna storage {public_url(storage)}: {type(exc).__name__}: {first}",
            "check the URL, e.g. sqlite:///runs/tuning.db or postgresql+psycopg2://user:pw@host/db "
            "(needs psycopg2-binary)",
        ) from None


def enqueue_default(study: optuna.Study, default: SearchPoint, attacks: list[str], views: tuple[str, ...]) -> None:
    """A new study's first trial is the default recipe, so the search starts from the known baseline
    (a study whose every trial failed, e.g. killed during the first one, is new again)."""
    params = params_of(default, attacks, views)
    if params is not None and all(t.state == optuna.trial.TrialState.FAIL for t in study.trials):
        study.enqueue_trial(params)


def optimise(
    study: optuna.Study,
    objective: Objective,
    trials: int | None,
    timeout: float | None,
    jobs: int = 1,
    progress: bool = True,
    label: str = "",
) -> None:
    """``trials`` more trials in this process (a shared study's total is the sum over workers)."""
    from tqdm import tqdm

    if trials is None and timeout is None:
        raise ConfigError("give --trials or --timeout (or both); otherwise the search never stops")
    bar = tqdm(total=trials, desc=f"tuning {label}", unit="trial", disable=not progress, leave=False)

    def tick(st, tr):
        bar.update()
        if tr.state == optuna.trial.TrialState.COMPLETE:
            bar.set_postfix(best=f"{st.best_value:.4f}")

    run = dict(timeout=timeout, callbacks=[tick], catch=(ToolkitError,), gc_after_trial=False)
    try:
        waiting = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,))
        if waiting and jobs > 1 and (trials is None or trials > 1):
            # Parallel threads can both take one enqueued trial and the second fails to report it
            # ("Cannot tell a COMPLETE trial", SQLite): the enqueued default runs alone first.
            start = time.monotonic()
            study.optimize(objective, n_trials=1, n_jobs=1, **run)
            trials = None if trials is None else trials - 1
            run["timeout"] = None if timeout is None else max(timeout - (time.monotonic() - start), 0.001)
        study.optimize(objective, n_trials=trials, n_jobs=jobs, **run)
    finally:
        bar.close()
    if not study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        raise DataError(f"study {study.study_name!r} has no completed trial", "see the failed trials' messages above")
