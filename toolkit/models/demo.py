"""The demo's model: a small MLP on 8×8 digit images (keys ``mlp.0.*``, ``mlp.2.*`` like MICO's)."""

from __future__ import annotations

from toolkit.models import register_architecture

__all__ = ["demo_mlp"]


@register_architecture("demo_mlp")
def demo_mlp(n_classes: int = 10, in_features: int = 64, width: int = 128):
    """Linear(in_features, width) → tanh → Linear(width, n_classes) on flattened 8×8 digits (``mlp.*`` keys)."""
    from torch import nn

    class DemoMLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.mlp = nn.Sequential(nn.Linear(in_features, width), nn.Tanh(), nn.Linear(width, n_classes))

        def forward(self, x):
            return self.mlp(x.flatten(1))

    return DemoMLP()
