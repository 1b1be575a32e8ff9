"""Query views: the dihedral views are the seven other symmetries of the square, each once."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from toolkit.errors import ConfigError
from toolkit.views import apply_views, count_views, parse_views


def test_dihedral_views_are_the_eight_symmetries_each_once():
    views = parse_views("orig,dihedral")
    assert views == ("orig", "dihedral") and count_views(views) == 8
    x = torch.arange(9.0).view(1, 1, 3, 3)
    out = apply_views(x, views)  # [8, 1, 1, 3, 3]
    assert out.shape == (8, 1, 1, 3, 3)
    a = np.arange(9.0).reshape(3, 3)
    expected = {tuple(np.rot90(m, k).ravel()) for m in (a, a[:, ::-1]) for k in range(4)}
    got = [tuple(v[0, 0].numpy().ravel()) for v in out]
    assert set(got) == expected and len(set(got)) == 8 and got[0] == tuple(a.ravel())


def test_dihedral_views_need_square_images():
    with pytest.raises(ConfigError, match="square images"):
        apply_views(torch.zeros(1, 1, 2, 3), ("orig", "dihedral"))
    with pytest.raises(ConfigError, match="valid views: orig, flip, dihedral"):
        parse_views("orig,rot45")
