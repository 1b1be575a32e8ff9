"""Plot helpers shared by the studies, the tuning report and the submission report (matplotlib, Agg).

matplotlib is imported on first use, never when a module is imported, and always with the Agg
backend: no display is needed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toolkit.io import atomic_savefig
from toolkit.metrics import roc

__all__ = ["pyplot", "figure", "plot_rocs"]


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure(ncols: int = 1, width: float = 5.0):
    """(pyplot, figure, axes of one row): ``ncols`` panels of ``width`` inches each."""
    plt = pyplot()
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, 4.2), squeeze=False)
    return plt, fig, axes[0]


def plot_rocs(path: Path, curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str) -> None:
    """Linear and log-log ROC side by side; ``curves`` maps a label to (membership, scores)."""
    plt, fig, (lin, log) = figure(2)
    lowest = 1.0
    for label, (m, s) in curves.items():
        fpr, tpr = roc(m, s)
        auc = float(np.trapezoid(tpr, fpr))
        lin.plot(fpr, tpr, label=f"{label} (AUC {auc:.3f})")
        log.plot(fpr, tpr, label=label)
        lowest = min(lowest, 1.0 / max(1, int((np.asarray(m) == 0).sum())))
    for ax in (lin, log):
        ax.plot([lowest, 1], [lowest, 1], "k--", lw=0.8)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
    log.set_xscale("log")
    log.set_yscale("log")
    log.set_xlim(lowest, 1)
    log.set_ylim(lowest, 1)
    lin.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=110)
    plt.close(fig)
