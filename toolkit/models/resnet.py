"""ResNet18 as in the ResNet18 public/private task: torchvision's model with ``fc = Linear(512, C)``.

The stem is the standard ImageNet one (7×7 stride-2 conv, 3×3 max-pool) even though the inputs
are 32×32: the organisers' state dict has exactly torchvision's keys and shapes, so any CIFAR-style
stem change would not load.
"""

from __future__ import annotations

from toolkit.models import register_architecture

__all__ = ["resnet18_44"]


@register_architecture("resnet18_44")
def resnet18_44(n_classes: int = 44):
    """torchvision ``resnet18(weights=None, num_classes=n_classes)``; input [n, 3, 32, 32] normalised."""
    from torchvision.models import resnet18

    return resnet18(weights=None, num_classes=n_classes)
