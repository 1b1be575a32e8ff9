"""ResNet18 as in the ResNet18 public/private task: torchvision's model with ``fc = Linear(512, C)``.

``resnet18_44`` (2025): the standard ImageNet stem (7×7 stride-2 conv, 3×3 max-pool) even though the
inputs are 32×32, as the organisers' state dict has it. ``resnet18_cifar`` (2026): the CIFAR stem
(``conv1`` 3×3 stride 1 padding 1 without bias, no max-pool), which keeps 32×32 feature maps in the
first stage (about 15× the FLOPs per image). Both keep torchvision's keys, so the organisers' files load.
"""

from __future__ import annotations

from toolkit.models import register_architecture

__all__ = ["resnet18_44", "resnet18_cifar"]


@register_architecture("resnet18_44")
def resnet18_44(n_classes: int = 44):
    """torchvision ``resnet18(weights=None, num_classes=n_classes)``; input [n, 3, 32, 32] normalised."""
    from torchvision.models import resnet18

    return resnet18(weights=None, num_classes=n_classes)


@register_architecture("resnet18_cifar")
def resnet18_cifar(n_classes: int = 9):
    """torchvision ``resnet18(weights=None, num_classes=n_classes)`` with the CIFAR stem; input [n, 3, 32, 32]."""
    import torch
    from torchvision.models import resnet18

    model = resnet18(weights=None, num_classes=n_classes)
    model.conv1 = torch.nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = torch.nn.Identity()
    return model
