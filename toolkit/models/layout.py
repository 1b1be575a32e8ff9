"""An MLP as the grouped trainer sees it: its Linear layers and the element-wise activations between them.

``layout`` reads a model as Linear, activations, Linear, …, Linear (or says it is not one);
``activate`` and ``activation_grad`` run an activation chain forward and backward, in one fused
in-place kernel for a lone Tanh, Sigmoid or ReLU and through autograd otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Layout", "layout", "activate", "activation_grad"]

_ELEMENTWISE = (
    "Tanh ReLU ReLU6 LeakyReLU Sigmoid LogSigmoid GELU SiLU Mish ELU CELU SELU Softplus Softsign "
    "Hardtanh Hardswish Hardsigmoid Tanhshrink Identity"
).split()


@dataclass
class Layout:
    """The Linear layers in forward order and the element-wise modules after each."""

    linears: list
    acts: list[list]


def layout(model) -> Layout | None:
    """The model as Linear, activations, Linear, …, Linear (an optional leading Flatten), else None."""
    from torch import nn

    leaves = [m for m in model.modules() if not list(m.children())]
    if leaves and isinstance(leaves[0], nn.Flatten):
        leaves = leaves[1:]
    linears, acts = [], []
    for m in leaves:
        if isinstance(m, nn.Linear):
            linears.append(m)
            acts.append([])
        elif type(m).__name__ in _ELEMENTWISE and type(m).__module__.startswith("torch.nn") and linears:
            acts[-1].append(m)
        else:
            return None
    if not linears or acts[-1] or any(a.out_features != b.in_features for a, b in zip(linears, linears[1:])):
        return None
    owned = {id(p) for m in linears for p in m.parameters()}
    if any(id(p) not in owned for p in model.parameters()) or list(model.buffers()):
        return None
    return Layout(linears, acts)


# --- activations: forward in place where the derivative needs only the output, else through autograd


def _fused(chain: list):
    """(in-place forward, backward(grad, output) writing into grad) for a lone Tanh/Sigmoid/ReLU, else None."""
    import torch
    from torch import nn

    if len(chain) != 1 or type(chain[0]) not in (nn.Tanh, nn.Sigmoid, nn.ReLU):
        return None
    aten = torch.ops.aten
    return {
        nn.Tanh: (torch.tanh_, lambda g, h: aten.tanh_backward.grad_input(g, h, grad_input=g)),
        nn.Sigmoid: (torch.sigmoid_, lambda g, h: aten.sigmoid_backward.grad_input(g, h, grad_input=g)),
        nn.ReLU: (torch.relu_, lambda g, h: aten.threshold_backward.grad_input(g, h, 0, grad_input=g)),
    }[type(chain[0])]


def activate(chain: list, z):
    """The chain's output on the pre-activation z (z itself, overwritten, when the chain is fused)."""
    fused = _fused(chain)
    if fused:
        return fused[0](z)
    h = z.clone()  # a module with inplace=True must not overwrite z: the backward pass reads it
    for act in chain:
        h = act(h)
    return h


def activation_grad(chain: list, grad, z, h):
    """The gradient at the chain's input, given ``grad`` at its output (z: its input, h: its output)."""
    import torch

    if not chain:
        return grad
    fused = _fused(chain)
    if fused:
        return fused[1](grad, h)
    with torch.enable_grad():
        zz = z.detach().requires_grad_()
        out = zz.clone()
        for act in chain:
            out = act(out)
        return torch.autograd.grad(out, zz, grad)[0]
