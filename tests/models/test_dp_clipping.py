"""DP-SGD's clipped gradient sums: the Linear-layer shortcut equals per-sample gradients clipped one by one."""

from __future__ import annotations

import pytest
import torch

from toolkit.models.training import _clipped_sums_linear, _clipped_sums_vmap, _linear_layers


@pytest.mark.parametrize("clip", [0.05, 1.0, 100.0])  # every sample clipped, some, none
def test_linear_shortcut_matches_per_sample_gradients(clip):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(7, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    x, y = torch.randn(11, 7), torch.randint(0, 3, (11,))
    fast = _clipped_sums_linear(model, _linear_layers(model), x, y, clip)
    slow = _clipped_sums_vmap(model, x, y, clip)
    assert set(fast) == set(slow) == set(model.parameters())
    for p in model.parameters():
        torch.testing.assert_close(fast[p], slow[p], rtol=1e-5, atol=1e-7)


def test_models_with_other_layers_take_the_general_path():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(2 * 4 * 4, 3))
    assert _linear_layers(model) is None
