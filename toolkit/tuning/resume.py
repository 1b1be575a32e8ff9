"""A study that survives SIGKILL: each trial knows its worker, a dead worker's trials are failed, and the
sampler's seed follows from the finished trials, so a resumed study draws what an undisturbed one would.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import warnings

import optuna

__all__ = ["FINISHED", "FinishedSeededTPE", "fail_orphans", "worker"]

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def worker() -> str:
    """This process as a trial's owner: ``host:pid`` (computed per call: a forked child is another worker)."""
    return f"{socket.gethostname()}:{os.getpid()}"


class FinishedSeededTPE(optuna.samplers.BaseSampler):
    """Multivariate TPE whose seed, for each trial, is ``seed + 7919 × (trials finished so far)`` (plus a
    term for trials still running beside it, so that parallel trials draw apart).

    TPE reads its history from the study and keeps nothing else but its random stream; seeding
    that stream from the finished trials (not from one stream per process) makes a study that was
    killed and resumed draw exactly what an undisturbed one would: the killed trial is failed
    (``fail_orphans``) and counts for nothing.
    """

    def __init__(self, seed: int):
        self._seed, self._by_trial, self._lock = seed, {}, threading.Lock()

    def _tpe(self, study, trial) -> optuna.samplers.TPESampler:
        with self._lock:
            if trial.number not in self._by_trial:
                n = len(study.get_trials(deepcopy=False, states=FINISHED))
                # trials running beside this one (-j threads, other workers) would otherwise draw the same
                running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
                n += 104_729 * sum(t.number < trial.number for t in running)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    self._by_trial[trial.number] = optuna.samplers.TPESampler(
                        seed=(self._seed + 7919 * n) % 2**32, multivariate=True, group=True, n_startup_trials=8
                    )
            return self._by_trial[trial.number]

    def before_trial(self, study, trial) -> None:
        # the trial's worker, recorded the moment the trial exists: a kill leaves it known as orphan
        study._storage.set_trial_user_attr(trial._trial_id, "worker", worker())
        self._tpe(study, trial).before_trial(study, trial)

    def infer_relative_search_space(self, study, trial):
        return self._tpe(study, trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._tpe(study, trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._tpe(study, trial).sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values) -> None:
        with self._lock:
            tpe = self._by_trial.pop(trial.number, None)
        if tpe is not None:
            tpe.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:  # the seed follows from the study, never from the process
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def fail_orphans(study: optuna.Study) -> list[int]:
    """Mark FAIL the RUNNING trials of processes of this host that no longer run (killed); their numbers.

    Each trial records its worker (host:pid) when it is created (``FinishedSeededTPE.before_trial``);
    a trial of a live process, or of another host (a shared study), is left alone.
    """
    host = worker().rpartition(":")[0]
    orphans = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        owner = str(t.user_attrs.get("worker", ""))
        who, _, pid = owner.rpartition(":")
        # no owner at all: killed in the instant between the trial's creation and its sampler's first call
        unowned = not owner and t.datetime_start is not None and time.time() - t.datetime_start.timestamp() > 2.0
        if unowned or (who == host and pid.isdigit() and not _alive(int(pid))):
            study._storage.set_trial_user_attr(t._trial_id, "orphan", True)  # failed by no fault of its own
            study._storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
            orphans.append(t.number)
    return orphans
