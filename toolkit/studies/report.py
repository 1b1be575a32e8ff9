"""Study outputs: a timestamped run folder, results.json, markdown tables and PNG plots.

Plots use matplotlib's Agg backend (no display needed). ROC plots come in linear and log-log
form (``toolkit.plots``); the log-log axes run from 1/n_neg to 1 with the diagonal.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from toolkit.io import atomic_savefig, atomic_write_text
from toolkit.plots import figure, plot_rocs

__all__ = [
    "run_dir",
    "write_json",
    "md_table",
    "plot_rocs",
    "plot_histograms",
    "plot_errorbars",
    "plot_bars",
    "mean_ci",
]


def run_dir(root: Path, name: str, stamp: str | None = None) -> Path:
    """``root/studies/<name>/<UTC timestamp>/``, created."""
    stamp = stamp or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = Path(root) / "studies" / name / stamp
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_json(path: Path, obj) -> None:
    """Write ``obj`` as indented, key-sorted JSON, atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=float) + "\n")


def mean_ci(values, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): Student-t interval over independent repeats (half-width 0 for one value)."""
    from scipy.stats import t

    v = np.asarray(values, dtype=np.float64)
    mean = float(v.mean())
    if len(v) < 2:
        return mean, mean, mean
    half = float(t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return mean, mean - half, mean + half


def md_table(header: list[str], rows: list[list]) -> str:
    """A GitHub markdown table; floats with 3 decimals."""
    fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def plot_histograms(path: Path, panels: dict[str, tuple[np.ndarray, np.ndarray]], xlabel: str = "score") -> None:
    """One panel per label: member vs non-member score densities."""
    plt, fig, axes = figure(len(panels), width=3.6)
    for ax, (label, (m, s)) in zip(axes, panels.items()):
        m = np.asarray(m).astype(bool)
        bins = np.histogram_bin_edges(s, bins=30)
        ax.hist(s[m], bins=bins, alpha=0.6, density=True, label="members")
        ax.hist(s[~m], bins=bins, alpha=0.6, density=True, label="non-members")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel(xlabel)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=110)
    plt.close(fig)


def plot_errorbars(
    path: Path, series: dict[str, tuple], xlabel: str, ylabel: str, logx: bool = False, hline: float | None = 0.5
) -> None:
    """``series`` maps a label to (x, y, y_low, y_high[, x_err]) arrays; draws points with CI bars."""
    plt, fig, (ax,) = figure()
    for label, (x, y, lo, hi, *xerr) in series.items():
        y = np.asarray(y)
        ax.errorbar(
            x,
            y,
            yerr=[y - np.asarray(lo), np.asarray(hi) - y],
            xerr=xerr[0] if xerr else None,
            fmt="o-" if not xerr else "o",
            capsize=3,
            label=label,
        )
    if hline is not None:
        ax.axhline(hline, color="grey", ls="--", lw=0.8)
    if logx:
        ax.set_xscale("log", base=2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=110)
    plt.close(fig)


def plot_bars(path: Path, groups: dict[str, np.ndarray], categories: list, ylabel: str, title: str) -> None:
    """Grouped bars: one colour per key of ``groups``, one bar group per category."""
    plt, fig, (ax,) = figure(width=7.0)
    w = 0.8 / max(1, len(groups))
    for i, (label, vals) in enumerate(groups.items()):
        ax.bar(np.arange(len(categories)) + i * w, vals, width=w, label=label)
    ax.set_xticks(np.arange(len(categories)) + 0.4 - w / 2, [str(c) for c in categories])
    ax.axhline(0.5, color="grey", ls="--", lw=0.8)
    ax.set_ylim(0.3, 1.0)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=110)
    plt.close(fig)
