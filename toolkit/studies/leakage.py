"""How much membership a score reveals: advantage, balanced accuracy, mutual information.

For scores s and membership m ∈ {0, 1}:

- membership advantage (Yeom et al. 2018) = Youden's J = max_t TPR(t) − FPR(t);
- balanced accuracy = max_t 1 − (FPR + 1 − TPR)/2 = (1 + advantage)/2;
- I(s; m) in bits, a plug-in estimate on equal-mass bins of s, with the Miller–Madow bias
  correction (B − 1)/(2 n ln 2) subtracted. I(s; m) ≤ H(m) ≤ 1 bit, and by data processing the
  information in one score is a lower bound on what the model's whole output leaks.
- Fano's inequality turns the best balanced accuracy into a lower bound on the information:
  I ≥ H(m) − h₂(1 − balanced accuracy) (h₂ the binary entropy; exact for balanced classes, and
  optimistic when the threshold is picked on the same points, as here).

These are context for a study, not an attack: the Bayes-optimal attack is bounded by them only
for the features the estimate sees.
"""

from __future__ import annotations

import numpy as np

from toolkit.metrics import roc

__all__ = ["advantage", "balanced_accuracy", "mutual_information_bits", "binary_entropy", "leakage_summary"]


def advantage(membership, scores) -> float:
    """max(TPR − FPR) over thresholds (Youden's J)."""
    fpr, tpr = roc(membership, scores)
    return float(np.max(tpr - fpr))


def balanced_accuracy(membership, scores) -> float:
    """max over thresholds of 1 − (FPR + FNR)/2."""
    fpr, tpr = roc(membership, scores)
    return float(np.max(1 - (fpr + 1 - tpr) / 2))


def binary_entropy(p) -> float:
    """h₂(p) = −p log₂ p − (1−p) log₂(1−p), with h₂(0) = h₂(1) = 0."""
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log2(p), 0.0) - np.where(p < 1, (1 - p) * np.log2(1 - p), 0.0)
    return float(h)


def mutual_information_bits(membership, scores, bins: int = 10, correct: bool = True) -> float:
    """Plug-in I(binned s; m) in bits on ``bins`` equal-mass bins (Miller–Madow corrected, ≥ 0)."""
    m = np.asarray(membership).astype(np.int64)
    s = np.asarray(scores, dtype=np.float64)
    edges = np.unique(np.quantile(s, np.linspace(0, 1, bins + 1)[1:-1]))
    b = np.searchsorted(edges, s, side="right")
    joint = np.zeros((len(edges) + 1, 2))
    np.add.at(joint, (b, m), 1.0)
    joint /= joint.sum()
    pb, pm = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    nz = joint > 0
    mi = float((joint[nz] * np.log2(joint[nz] / (pb @ pm)[nz])).sum())
    if correct:
        cells = int(nz.sum()) - int((pb > 0).sum()) - int((pm > 0).sum()) + 1
        mi -= max(cells, 0) / (2 * len(m) * np.log(2))
    return max(mi, 0.0)


def leakage_summary(membership, scores, bins: int = 10) -> dict[str, float]:
    """Every figure of this module for one set of scores (a dict of floats for results.json)."""
    m = np.asarray(membership).astype(np.int64)
    adv = advantage(m, scores)
    bal = balanced_accuracy(m, scores)
    h_m = binary_entropy(m.mean())
    return {
        "advantage": adv,
        "balanced_accuracy": bal,
        "mi_bits": mutual_information_bits(m, scores, bins),
        "mi_upper_bound_bits": h_m,
        "fano_mi_lower_bound_bits": max(0.0, h_m - binary_entropy(1 - bal)),
    }
