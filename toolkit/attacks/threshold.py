"""Global-threshold attacks on one signal (Yeom et al. 2018; the MICO starting kit).

score = the signal oriented so that higher = member (−loss, confidence, −entropy, …), averaged
over query views. No reference models are used.
"""

from __future__ import annotations

import numpy as np

from toolkit.attacks.registry import SIGNAL, register
from toolkit.signals import oriented


@register(
    "threshold",
    simplicity=0,
    needs_references=False,
    tuning={"signal": SIGNAL},
    variants=[{"signal": "loss"}, {"signal": "modified_entropy"}],
)
def threshold(target, labels, ref, keep, *, groups=None, seed=0, signal: str = "loss") -> np.ndarray:
    """Yeom et al. (2018), "Privacy risk in machine learning": score(x) = ±s(x) for signal s."""
    return oriented(signal, target, labels).mean(axis=-1)
