"""Do our reference models look like the target? Their accuracy and loss beside the target's.

The one check that references were trained like the target, for both kinds (MICO references
against the provided train-phase models, the ResNet18 task's shadows against its target).
Reference attacks assume the references were trained like the target: same settings, same
overfitting. Where the target's membership is known on some points (the ResNet18 task's public
set), its train accuracy, test accuracy and member/non-member loss quartiles are measured there,
and the references' the same way on the same points (each reference's IN points as its training
set, its OUT points as its test set). ``verdict`` says in one line whether they match, and
``distance`` scores training settings for ``--match``'s grid search.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from toolkit.signals import loss

__all__ = [
    "ModelStats",
    "model_stats",
    "reference_stats",
    "distance",
    "matches",
    "verdict",
    "shadow_check",
    "match_grid",
    "out_correlation",
    "TOLERANCE",
]

TOLERANCE = {"acc": 0.05, "loss_ratio": 2.0}  # accuracy gap, and factor on (median loss + LOSS_FLOOR)
LOSS_FLOOR = 0.01  # members' losses near 0 make plain ratios meaningless
QUARTILES = (0.25, 0.5, 0.75)


@dataclass(frozen=True)
class ModelStats:
    """Train/test accuracy and member/non-member loss quartiles of one model (or pooled references)."""

    train_acc: float
    test_acc: float
    loss_in: tuple[float, float, float]
    loss_out: tuple[float, float, float]

    def as_dict(self) -> dict:
        return asdict(self)


def _stats(correct_in, correct_out, loss_in, loss_out) -> ModelStats:
    def q(v):
        return tuple(float(x) for x in np.quantile(v, QUARTILES)) if len(v) else (math.nan,) * 3

    mean = lambda v: float(np.mean(v)) if len(v) else math.nan
    return ModelStats(mean(correct_in), mean(correct_out), q(loss_in), q(loss_out))


def model_stats(logits: np.ndarray, labels: np.ndarray, member: np.ndarray) -> ModelStats:
    """Stats of one model from its logits [P, V, C] (first view) on points whose ``member`` bool [P] is known."""
    z = np.asarray(logits)[:, :1]  # [P, 1, C]: the signals take a view axis
    member = np.asarray(member, dtype=bool)
    correct = z[:, 0].argmax(-1) == labels
    lo = loss(z, labels)[:, 0]
    return _stats(correct[member], correct[~member], lo[member], lo[~member])


def reference_stats(ref: np.ndarray, labels: np.ndarray, keep: np.ndarray) -> ModelStats:
    """Stats pooled over references ``ref`` [R, P, V, C] with membership ``keep`` bool [R, P]."""
    z = np.asarray(ref)[:, :, :1]
    flat = z.reshape(-1, 1, z.shape[-1])
    lab = np.broadcast_to(labels, keep.shape).reshape(-1)
    correct = flat[:, 0].argmax(-1) == lab
    lo = loss(flat, lab)[:, 0]
    k = np.asarray(keep, dtype=bool).reshape(-1)
    return _stats(correct[k], correct[~k], lo[k], lo[~k])


def _loss_gap(a: float, b: float) -> float:
    return abs(math.log((a + LOSS_FLOOR) / (b + LOSS_FLOOR)))


def distance(refs: ModelStats, target: ModelStats) -> float:
    """Accuracy gaps plus a quarter of the log-ratio of median losses (members and non-members)."""
    return (
        abs(refs.train_acc - target.train_acc)
        + abs(refs.test_acc - target.test_acc)
        + 0.25 * (_loss_gap(refs.loss_in[1], target.loss_in[1]) + _loss_gap(refs.loss_out[1], target.loss_out[1]))
    )


def _gaps(refs: ModelStats, target: ModelStats) -> list[str]:
    """The figures outside the tolerance, worded for the verdict."""
    out = []
    for name, a, b in (("train acc", refs.train_acc, target.train_acc), ("test acc", refs.test_acc, target.test_acc)):
        if abs(a - b) > TOLERANCE["acc"]:
            out.append(f"{name} {a:.2f} vs {b:.2f}")
    for name, a, b in (
        ("member", refs.loss_in[1], target.loss_in[1]),
        ("non-member", refs.loss_out[1], target.loss_out[1]),
    ):
        if _loss_gap(a, b) > math.log(TOLERANCE["loss_ratio"]):
            out.append(f"median {name} loss {a:.3g} vs {b:.3g}")
    return out


def matches(refs: ModelStats, target: ModelStats) -> bool:
    """Whether every figure lies within ``TOLERANCE``."""
    return not _gaps(refs, target)


def verdict(refs: ModelStats, target: ModelStats, what: str = "shadow models", against: str = "the target") -> str:
    """One line: match or differ, with the figures (references first, then ``against``)."""
    gaps = _gaps(refs, target)
    if not gaps:
        return (
            f"{what} match {against}: train acc {refs.train_acc:.2f} vs {target.train_acc:.2f}, "
            f"test acc {refs.test_acc:.2f} vs {target.test_acc:.2f}, median loss member {refs.loss_in[1]:.3g} "
            f"vs {target.loss_in[1]:.3g}, non-member {refs.loss_out[1]:.3g} vs {target.loss_out[1]:.3g}"
        )
    return f"{what} differ from {against}: {'; '.join(gaps)} — check epochs/lr, or search them with --match"


def shadow_check(outs) -> dict:
    """The shadows' and the target's stats on the public set, and the one-line verdict.

    ``outs`` are the ResNet18 task's outputs (``tml.outputs.TMLOutputs``): the target's and the shadows' logits
    over the population, its first ``n_pub`` rows the public set, whose ``membership`` is known.
    """
    pub = np.arange(outs.n_pub)
    member = outs.membership[pub] == 1
    target = model_stats(outs.target[pub], outs.labels[pub], member)
    refs = reference_stats(outs.ref[:, pub], outs.labels[pub], outs.keep[:, pub])
    return {
        "target": target.as_dict(),
        "shadows": refs.as_dict(),
        "distance": distance(refs, target),
        "verdict": verdict(refs, target),
    }


def match_grid(cfg) -> list:
    """Epochs ×½, ×1, ×2 at ``cfg``'s lr, then lr ×½ and ×2 at its epochs (5 settings)."""
    from dataclasses import replace

    e, lr = cfg.epochs, cfg.lr
    points = [(max(1, e // 2), lr), (e, lr), (2 * e, lr), (e, lr / 2), (e, 2 * lr)]
    return [replace(cfg, epochs=ep, lr=r) for ep, r in dict.fromkeys(points)]


def out_correlation(a: np.ndarray, keep_a: np.ndarray, b: np.ndarray, keep_b: np.ndarray, labels: np.ndarray) -> float:
    """Pearson correlation over points of the mean OUT φ (logit-scaled confidence) of two reference sets.

    ``a`` [R, P, V, C] and ``b`` [S, P, V, C] on the same points; points OUT of no model of either
    set are left out. Near 1: both sets find the same points hard; it is capped by how few OUT
    models a point has.
    """
    from toolkit.signals import phi

    def out_mean(z, keep):
        s = phi(np.asarray(z)[:, :, :1], labels)[..., 0]  # [R, P]
        out = ~np.asarray(keep, dtype=bool)
        n = out.sum(0)
        return np.where(n > 0, (s * out).sum(0) / np.maximum(n, 1), np.nan)

    ma, mb = out_mean(a, keep_a), out_mean(b, keep_b)
    ok = np.isfinite(ma) & np.isfinite(mb)
    if ok.sum() < 3 or np.std(ma[ok]) == 0 or np.std(mb[ok]) == 0:
        return math.nan
    return float(np.corrcoef(ma[ok], mb[ok])[0, 1])
