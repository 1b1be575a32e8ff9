"""Training-time augmentation of image batches: random horizontal flips and quarter turns.

``flip`` mirrors each image left–right with probability ½; ``rot90`` turns each by k·90°, k uniform
in {0, 1, 2, 3}; with both, each image goes through one of the 8 maps of the square's symmetry
group (the dihedral group D4), uniformly. Whole-batch work: flips are one ``torch.where`` over a
per-sample mask, quarter turns one ``torch.rot90`` per k on the rows that drew it (4 groups, not a
loop over samples). Every draw comes from the trainer's seeded generator, quarter turns first, so
a run is reproducible and a recipe without augmentation draws nothing.
"""

from __future__ import annotations

from toolkit.errors import ConfigError
from toolkit.training_tables import parse_augment

__all__ = ["augment_ops", "augment_batch"]


def augment_ops(spec: str, x) -> tuple[str, ...]:
    """The augmentations of ``spec`` ('flip,rot90') checked against the inputs x [n, C, H, W]; one-line ConfigError."""
    ops = parse_augment(spec)
    if ops and x.dim() != 4:
        raise ConfigError(f"augment {spec!r} needs image inputs [n, C, H, W], got {x.dim()}-D inputs")
    if "rot90" in ops and x.shape[2] != x.shape[3]:
        raise ConfigError(f"augment rot90 needs square images, got {x.shape[2]}×{x.shape[3]}")
    return ops


def augment_batch(x, ops: tuple[str, ...], gen):
    """x [B, C, H, W] with each image under its own random map of ``ops``; rows stay in their order.

    ``gen`` is a CPU ``torch.Generator``: k [B] (quarter turns) is drawn first, then the flip mask [B].
    """
    import torch

    if not ops:
        return x
    if "rot90" in ops:
        turns = torch.randint(0, 4, (len(x),), generator=gen).to(x.device)
        out = torch.empty_like(x)
        for k in range(4):
            rows = (turns == k).nonzero().squeeze(1)
            out[rows] = torch.rot90(x[rows], k, dims=(2, 3))
        x = out
    if "flip" in ops:
        mirror = (torch.rand(len(x), generator=gen) < 0.5).to(x.device)
        x = torch.where(mirror.view(-1, 1, 1, 1), x.flip(3), x)
    return x
