"""The ResNet18 task's leaderboard rule, written once: TPR at 5% FPR, and the keys its figures go under."""

from __future__ import annotations

__all__ = ["FPR", "STRICT", "INCLUSIVE"]

FPR = 0.05  # the scoring server ranks by TPR at this FPR
STRICT = "tpr@5%fpr_strict"  # TPR where fpr < FPR
INCLUSIVE = "tpr@5%fpr_inclusive"  # TPR where fpr <= FPR
