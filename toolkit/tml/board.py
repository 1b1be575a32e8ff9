"""The ResNet18 task's leaderboard rule, written once: TPR at 5% FPR, and the keys its figures go under."""

from __future__ import annotations

from toolkit.context import KIND_FACTS

__all__ = ["FPR", "STRICT", "INCLUSIVE"]

FPR = KIND_FACTS["tml"].leaderboard_fpr  # the scoring server ranks by TPR at this FPR (5%)
STRICT = "tpr@5%fpr_strict"  # TPR where fpr < FPR
INCLUSIVE = "tpr@5%fpr_inclusive"  # TPR where fpr <= FPR
