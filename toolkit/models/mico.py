"""The MICO organisers' CIFAR-10 CNN and Purchase-100 MLP, with their exact state-dict keys.

The module names must match the organisers' ``model.pt`` files key for key (``cnn.0/3/5/9`` and
``mlp.0/2``), so the layer list is written out in their order, including parameter-free layers.
DP models carry Opacus's ``_module.`` prefix, which ``toolkit.models.load_state_dict`` strips.
"""

from __future__ import annotations

from toolkit.models import register_architecture

__all__ = ["mico_cnn", "mico_mlp", "CNN_PARAMETERS"]

CNN_PARAMETERS = 973_962  # 24,704 + 295,168 + 590,080 + 64,010


@register_architecture("mico_cnn")
def mico_cnn(n_classes: int = 10):
    """Conv(3,128,k8,s2,p3)–Tanh–MaxPool(3,s1)–Conv(128,256,k3)–Tanh–Conv(256,256,k3)–Tanh–AvgPool(2)–Flatten–Linear(6400,C).

    Input float32 [b, 3, 32, 32] (normalised); spatial size 32 → 16 → 14 → 12 → 10 → 5.
    """
    from torch import nn

    class MicoCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.cnn = nn.Sequential(
                nn.Conv2d(3, 128, kernel_size=8, stride=2, padding=3),
                nn.Tanh(),
                nn.MaxPool2d(kernel_size=3, stride=1),
                nn.Conv2d(128, 256, kernel_size=3),
                nn.Tanh(),
                nn.Conv2d(256, 256, kernel_size=3),
                nn.Tanh(),
                nn.AvgPool2d(kernel_size=2, stride=2),
                nn.Flatten(),
                nn.Linear(in_features=6400, out_features=n_classes),
            )

        def forward(self, x):
            return self.cnn(x)

    return MicoCNN()


@register_architecture("mico_mlp")
def mico_mlp(n_classes: int = 100, in_features: int = 600, width: int = 128):
    """Linear(600,128)–Tanh–Linear(128,C); input float32 [b, 600] binary features."""
    from torch import nn

    class MicoMLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.mlp = nn.Sequential(nn.Linear(in_features, width), nn.Tanh(), nn.Linear(width, n_classes))

        def forward(self, x):
            return self.mlp(x.flatten(1))

    return MicoMLP()
