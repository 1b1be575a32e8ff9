"""The target, checked before any long work: read with ``weights_only``, its stem and head against the track.

A poisoned, truncated or mismatched target file must be refused in seconds, not after the shadows
have trained: ``check_target`` reads the state dict (``models.load_state_dict``: weights only, every
entry a finite tensor), compares its stem (conv1's kernel) and head (fc's classes), as ``models.describe_state``
words them, with the track's architecture and ``n_classes`` in one line that names both, and loads it into
the architecture.
"""

from __future__ import annotations

from toolkit.errors import ModelError

__all__ = ["check_target"]


def check_target(task, architecture: str) -> str:
    """Refuse a target that is not the track's architecture (one line naming both); return a line describing it.

    ``task`` is a ``TMLTask`` (its datasets already read and checked); nothing is trained here.
    """
    from toolkit.models import build_model, describe_state, fit_weights, load_state_dict

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
