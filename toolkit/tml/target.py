"""The target, checked before any long work: read with ``weights_only``, its stem and head against the track.

A poisoned, truncated or mismatched target file must be refused in seconds, not after the shadows
have trained: ``check_target`` reads the state dict (``models.load_state_dict``: weights only, every
entry a finite tensor), compares its stem (conv1's kernel) and head (fc's classes) with the track's
architecture and ``n_classes`` in one line that names both, and loads it into the architecture.
"""

from __future__ import annotations

from toolkit.errors import ModelError

__all__ = ["describe_state", "check_target"]


def describe_state(state: dict) -> str:
    """A ResNet state dict's stem and head in words, e.g. '3×3 stem, 512→9 head' ('?' where a key is absent)."""
    conv, fc = state.get("conv1.weight"), state.get("fc.weight")
    stem = f"{conv.shape[-1]}×{conv.shape[-2]} stem" if conv is not None and conv.dim() == 4 else "no conv1 stem"
    head = f"{fc.shape[1]}→{fc.shape[0]} head" if fc is not None and fc.dim() == 2 else "no fc head"
    return f"{stem}, {head}"


def check_target(task, architecture: str) -> str:
    """Refuse a target that is not the track's architecture (one line naming both); return a line describing it.

    ``task`` is a ``TMLTask`` (its datasets already read and checked); nothing is trained here.
    """
    from toolkit.models import build_model, fit_weights, load_state_dict

    n_classes = task.layout.n_classes
    state = load_state_dict(task.model_path)
    expected = build_model(architecture, n_classes).state_dict()
    got, want = describe_state(state), describe_state(expected)
    if got != want:
        raise ModelError(
            f"{task.model_path.name} has a {got}; the track says {architecture} with {n_classes} classes ({want})",
            "pick the track of this task's edition (--track), or fix [track] architecture / n_classes",
        )
    model = build_model(architecture, n_classes)
    fit_weights(model, state, task.model_path, architecture)
    n_params = sum(v.numel() for v in state.values() if v.is_floating_point())
    pub_members = int((task.pub.membership == 1).sum())
    return (
        f"target: {task.model_path.name}, {architecture} ({got}), {n_params:,} weights; "
        f"public {len(task.pub):,} points ({pub_members:,} members), private {len(task.priv):,}"
    )
