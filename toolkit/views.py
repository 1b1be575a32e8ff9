"""Query views: the original input plus optional augmentations (LiRA's augmented queries).

A view spec is a tuple of names: ``orig``, ``flip`` (horizontal mirror), ``shift:k`` (the four
±k-pixel translations, zero-padded), ``dihedral`` (the seven other symmetries of the square: three
quarter turns, the mirror and the mirror of each turn; for images with no canonical orientation,
such as tissue tiles). Views only apply to images ``[n, C, H, W]``; the spec is part
of every cache key, so a changed spec never reuses stale outputs.
"""

from __future__ import annotations

from toolkit.errors import ConfigError

__all__ = ["parse_views", "views_label", "count_views", "apply_views"]


def parse_views(spec: str | tuple[str, ...] | None) -> tuple[str, ...]:
    """'orig,flip,shift:2' -> ('orig', 'flip', 'shift:2'); validated; 'orig' always first."""
    if spec is None or spec == "" or spec == "none":
        return ("orig",)
    parts = tuple(p.strip() for p in (spec.split(",") if isinstance(spec, str) else spec) if p.strip())
    for p in parts:
        if p in ("orig", "flip", "dihedral"):
            continue
        if p.startswith("shift:") and p[6:].isdigit() and int(p[6:]) > 0:
            continue
        raise ConfigError(f"unknown view {p!r}; valid views: orig, flip, dihedral, shift:<k> (k ≥ 1 pixels)")
    return ("orig",) + tuple(p for p in dict.fromkeys(parts) if p != "orig")


def views_label(views: tuple[str, ...]) -> str:
    """The views as one comma-separated label (the inverse of ``parse_views``)."""
    return ",".join(views)


def count_views(views: tuple[str, ...]) -> int:
    """How many query views the views expand to (a ``shift:k`` view is four, ``dihedral`` seven)."""
    return sum(4 if v.startswith("shift:") else 7 if v == "dihedral" else 1 for v in views)


def apply_views(x, views: tuple[str, ...]):
    """x [n, ...] -> [n_views, n, ...] (torch tensors)."""
    import torch

    if views == ("orig",):
        return x.unsqueeze(0)
    if x.dim() != 4:
        raise ConfigError(
            f"views {views_label(views)} need images [n, C, H, W]; this dataset has inputs of shape {tuple(x.shape)}"
        )
    out = []
    for v in views:
        if v == "orig":
            out.append(x)
        elif v == "flip":
            out.append(torch.flip(x, dims=(3,)))
        elif v == "dihedral":
            if x.shape[2] != x.shape[3]:
                raise ConfigError(f"the dihedral views need square images; these are {x.shape[2]}×{x.shape[3]}")
            mirror = torch.flip(x, dims=(3,))
            out += [torch.rot90(x, k, dims=(2, 3)) for k in (1, 2, 3)]
            out += [mirror] + [torch.rot90(mirror, k, dims=(2, 3)) for k in (1, 2, 3)]
        else:
            k = int(v[6:])
            padded = torch.nn.functional.pad(x, (k, k, k, k))
            h, w = x.shape[2], x.shape[3]
            for dy, dx in ((0, -k), (0, k), (-k, 0), (k, 0)):
                out.append(padded[:, :, k + dy : k + dy + h, k + dx : k + dx + w])
    return torch.stack(out)
