"""Auditing machine unlearning with a membership classifier.

An attack learns to tell the model's behaviour on the retain set (members) from a holdout set
(non-members); a forget set that was truly unlearned should then read like holdout. Steps:

1. features per point from the model's logits: loss, confidence, φ, margin, entropy, modified
   entropy (``toolkit.signals``);
2. retain and holdout are each split in parts: a logistic regression is fitted on retain-fit vs
   holdout-fit; the threshold is the (1 − fpr) quantile of its scores on holdout-calibration, so
   about ``fpr`` of unseen non-members read as member;
3. the member rate of the forget set at that threshold is compared with that of holdout-test (the
   same figure for points never trained on) by percentile-bootstrap CIs and Fisher's exact test.

The holdout must be exchangeable with the forget set: points of the same kind (same source, same
labelling, mislabelled ones too when the forget set is mislabelled) that the model never saw.
Only then does "reads like holdout" mean "forgotten"; a clean holdout against a mislabelled forget
set compares two different populations and has little power.

Verdict: "not forgotten" when the forget rate is significantly above the holdout-test rate
(p < alpha); otherwise "consistent with unlearning", with the retain rate as the audit's power.
"""

from __future__ import annotations

import numpy as np

from toolkit.errors import DataError
from toolkit.signals import SIGNALS, signal

__all__ = ["FEATURES", "audit_features", "audit_unlearning", "load_split", "model_logits"]

FEATURES = ("loss", "confidence", "phi", "margin", "entropy", "modified_entropy")


def audit_features(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """[n, len(FEATURES)] from logits [n, C] (float64)."""
    z = np.asarray(logits, dtype=np.float64)[:, None, :]
    return np.stack([signal(f, z, labels)[:, 0] for f in FEATURES if f in SIGNALS], axis=1)


def load_split(path) -> tuple[np.ndarray, np.ndarray]:
    """(x float32, y int64) from an .npz holding arrays ``x`` and ``y``."""
    try:
        with np.load(path, allow_pickle=False) as f:
            x, y = f["x"].astype(np.float32), f["y"].astype(np.int64)
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(
            f"cannot read {path}: {exc}", "expected an .npz with arrays 'x' (inputs) and 'y' (labels)"
        ) from None
    if len(x) != len(y) or len(y) == 0:
        raise DataError(f"{path}: x has {len(x)} rows and y {len(y)}; need the same non-zero number")
    return x, y


def model_logits(model, x: np.ndarray, batch: int = 1024) -> np.ndarray:
    """The model's logits [n, C] on ``x``, batched, without gradients."""
    import torch

    model.eval()
    with torch.inference_mode():
        return np.concatenate(
            [model(torch.from_numpy(x[i : i + batch])).double().numpy() for i in range(0, len(x), batch)]
        )


def _rate_ci(hits: np.ndarray, rng, n_boot: int) -> tuple[float, float, float]:
    boots = hits[rng.integers(0, len(hits), (n_boot, len(hits)))].mean(1)
    return float(hits.mean()), float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))


def audit_unlearning(
    retain_logits,
    retain_y,
    forget_logits,
    forget_y,
    holdout_logits,
    holdout_y,
    *,
    fpr: float = 0.05,
    alpha: float = 0.05,
    seed: int = 0,
    n_boot: int = 1000,
) -> dict:
    """Member rates (with 95% CIs) of forget vs holdout-test at the holdout-calibrated threshold."""
    from scipy.stats import fisher_exact
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(holdout_y) < 30 or len(retain_y) < 10 or len(forget_y) < 1:
        raise DataError("the audit needs ≥ 30 holdout, ≥ 10 retain and ≥ 1 forget points")
    rng = np.random.default_rng(seed)
    fr, fh = audit_features(retain_logits, retain_y), audit_features(holdout_logits, holdout_y)
    r_fit = rng.permutation(len(fr)) < len(fr) // 2
    h_part = rng.permutation(len(fh)) % 3  # 0 fit, 1 calibration, 2 test
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, class_weight="balanced", random_state=seed))
    clf.fit(np.concatenate([fr[r_fit], fh[h_part == 0]]), np.r_[np.ones(r_fit.sum()), np.zeros((h_part == 0).sum())])
    score = lambda f: clf.decision_function(f)
    thr = float(np.quantile(score(fh[h_part == 1]), 1 - fpr))
    hits = {
        "forget": score(audit_features(forget_logits, forget_y)) > thr,
        "holdout_test": score(fh[h_part == 2]) > thr,
        "retain_heldout": score(fr[~r_fit]) > thr,
    }
    rates = {k: dict(zip(("rate", "low", "high"), _rate_ci(v, rng, n_boot))) for k, v in hits.items()}
    f, h = hits["forget"], hits["holdout_test"]
    _, p = fisher_exact([[f.sum(), (~f).sum()], [h.sum(), (~h).sum()]], alternative="greater")
    verdict = (
        "NOT FORGOTTEN: the forget set reads as member more often than unseen data"
        if p < alpha
        else "consistent with unlearning: the forget set reads like unseen data"
    )
    return {
        "fpr": fpr,
        "threshold": thr,
        "rates": rates,
        "p_value": float(p),
        "alpha": alpha,
        "verdict": verdict,
        "features": list(FEATURES),
        "n": {k: int(len(v)) for k, v in hits.items()},
    }
