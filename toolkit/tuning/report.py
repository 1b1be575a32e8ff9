"""The tuning report: optimisation history, parameter importances and validation ROC as PNG files.

Kept apart from ``toolkit.tuning.study`` so that the search itself never imports matplotlib.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna

from toolkit.io import atomic_savefig
from toolkit.plots import figure, plot_rocs

__all__ = ["write_report"]


def _history(path: Path, study: optuna.Study) -> None:
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None]
    plt, fig, (ax,) = figure(width=6.0)
    if done:
        x = np.array([t.number for t in done])
        y = np.array([t.value for t in done])
        ax.plot(x, y, "o", ms=3, alpha=0.6, label="trial")
        ax.plot(x, np.maximum.accumulate(y), "-", label="best so far")
        ax.legend(fontsize=7)
    ax.set_xlabel("trial")
    ax.set_ylabel("objective (strict TPR@FPR + 1e-3·AUC)")
    ax.set_title(f"{study.study_name}: {len(done)} complete trial(s)")
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=110)
    plt.close(fig)


def _importances(path: Path, study: optuna.Study) -> None:
    try:
        imp = optuna.importance.get_param_importances(study)
        why = ""
    except (RuntimeError, ValueError) as exc:  # too few trials, or no parameter varied
        imp, why = {}, str(exc).splitlines()[0][:80]
    plt, fig, (ax,) = figure(width=6.0)
    if imp:
        names = list(imp)[::-1]
        ax.barh(names, [imp[n] for n in names])
        ax.set_xlabel("importance (fANOVA)")
    else:
        ax.text(
            0.5,
            0.5,
            f"no importances yet: {why or 'not enough varied trials'}",
            ha="center",
            va="center",
            fontsize=8,
            wrap=True,
        )
        ax.set_axis_off()
    ax.set_title(f"{study.study_name}: parameter importances")
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=110)
    plt.close(fig)


def write_report(folder: Path, study: optuna.Study, curves: dict, fpr_x: float) -> dict[str, str]:
    """``history.png``, ``importances.png`` and ``roc.png`` (linear and log-log) under ``folder``.

    ``curves`` maps (recipe tag, where) to (solution, scores, groups), as ``tuning._evaluate`` returns.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / f"{name}.png" for name in ("history", "importances", "roc")}
    _history(paths["history"], study)
    _importances(paths["importances"], study)
    rocs = {f"{tag} ({where})": (y, s) for (tag, where), (y, s, _) in curves.items()}
    plot_rocs(paths["roc"], rocs, f"{study.study_name}: validation ROC (objective at FPR < {fpr_x:g})")
    return {k: str(v) for k, v in paths.items()}
