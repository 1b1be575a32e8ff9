"""The report's figures as PNG bytes (matplotlib, Agg backend: no display needed).

- ``roc_png``: linear and log-log ROC side by side; the log axes run from 1/n (n = negatives) to 1,
  with the chance diagonal, and the leaderboard's operating point marked: a vertical line at its FPR
  and each curve's strict TPR there; for a DP scenario, the ceiling its training recipe puts on every
  attack as a dashed line ("DP ceiling", ``toolkit.privacy``).
- ``histogram_png``: member vs non-member score densities, one panel per split.
"""

from __future__ import annotations

import io

import numpy as np

from toolkit.metrics import fast_roc, roc
from toolkit.plots import pyplot

__all__ = ["roc_png", "histogram_png", "strict_tpr", "DPI"]

DPI = 100


def strict_tpr(labels: np.ndarray, scores: np.ndarray, x: float) -> float:
    """MICO's ``max(tpr[fpr < x])`` over scikit-learn's default ROC points, without ``roc_curve``'s checks.

    The points are ``roc_curve``'s: one per distinct score, collinear ones dropped
    (``drop_intermediate``, which can lower the strict TPR), (0, 0) first. Bootstraps call this
    thousands of times, where the checks would dominate.
    """
    fpr, tpr = fast_roc(np.asarray(labels).astype(np.int64), np.asarray(scores, dtype=np.float64))
    return float(tpr[fpr < x].max())


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    pyplot().close(fig)
    return buf.getvalue()


def roc_png(
    curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str, mark_fpr: float, ceiling: dict | None = None
) -> bytes:
    """``curves`` maps a legend label to (labels, scores); returns the two-panel ROC as PNG bytes.

    One legend under both panels gives each curve's AUC and strict TPR at ``mark_fpr`` (the dots
    on the dotted line), so that no legend hides a curve. ``ceiling`` (``fpr``, ``tpr``, ``label``):
    a DP scenario's ceiling, drawn dashed on both panels.
    """
    plt = pyplot()
    rows = (len(curves) + bool(ceiling) + 1) // 2
    height = 4.0 + 0.15 * rows
    fig, (lin, log) = plt.subplots(1, 2, figsize=(11, height))
    lowest = 1.0
    for i, (label, (y, s)) in enumerate(curves.items()):
        at = strict_tpr(y, s, mark_fpr)
        fpr, tpr = roc(y, s)
        style = {"color": f"C{i % 10}", "lw": 1.5 if i < 2 else 0.9}
        lin.plot(fpr, tpr, **style, label=f"{label}: AUC {np.trapezoid(tpr, fpr):.3f}, TPR {at:.3f}")
        log.plot(fpr, tpr, **style)
        for ax in (lin, log):
            ax.plot([mark_fpr], [max(at, 1e-9)], "o", color=style["color"], ms=4)
        lowest = min(lowest, 1.0 / max(1, int(np.count_nonzero(np.asarray(y) == 0))))
    if ceiling:
        line = {"color": "crimson", "ls": "--", "lw": 1.3}
        lin.plot(ceiling["fpr"], ceiling["tpr"], **line, label=ceiling["label"])
        log.plot(ceiling["fpr"], ceiling["tpr"], **line)
    for ax in (lin, log):  # the chance diagonal and the board's FPR over the curves, then the axes
        ax.plot([lowest, 1], [lowest, 1], "k--", lw=0.7)
        ax.axvline(mark_fpr, color="grey", ls=":", lw=1.0)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
    lin.set_xlim(0, 1)
    lin.set_ylim(0, 1)
    log.set_xscale("log")
    log.set_yscale("log")
    log.set_xlim(lowest, 1)
    log.set_ylim(lowest, 1)
    lin.set_title("linear", fontsize=9)
    log.set_title(f"log-log, down to 1/n = {lowest:.1e}", fontsize=9)
    fig.legend(
        *lin.get_legend_handles_labels(),
        loc="lower center",
        ncol=2,
        fontsize=7.5,
        frameon=False,
        title=f"TPR at the leaderboard's FPR < {mark_fpr:g} (dotted line)",
        title_fontsize=8,
    )
    fig.suptitle(title, fontsize=11)
    bottom = (0.75 + 0.15 * rows) / height  # room for the legend's title and rows, and the axis labels
    fig.subplots_adjust(left=0.06, right=0.99, bottom=bottom, top=1 - 0.75 / height, wspace=0.18)  # tight_layout: 0.5 s
    return _png(fig)


def histogram_png(panels: dict[str, tuple[np.ndarray, np.ndarray]], title: str) -> bytes:
    """One panel per label (a split): densities of members' and non-members' scores."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(3.8 * len(panels), 3.4), squeeze=False)
    for ax, (label, (y, s)) in zip(axes[0], panels.items()):
        member = np.asarray(y).astype(bool)
        s = np.asarray(s, dtype=np.float64)
        lo, hi = np.percentile(s, [0.5, 99.5])  # a few outliers would squeeze the bulk into one bin
        bins = np.linspace(lo, hi, 41) if hi > lo else 40
        ax.hist(s[member], bins=bins, alpha=0.55, density=True, label=f"members ({member.sum()})")
        ax.hist(s[~member], bins=bins, alpha=0.55, density=True, label=f"non-members ({(~member).sum()})")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("score (central 99%)")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("density")
    fig.suptitle(title, fontsize=11)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.15, top=0.82, wspace=0.25)
    return _png(fig)
