"""Random flips and quarter turns of image batches: only the square's symmetries of each input, row by row, seeded."""

from __future__ import annotations

import pytest
import torch

from toolkit.errors import ConfigError
from toolkit.models.augment import augment_batch, augment_ops
from toolkit.models.training import TrainConfig, train_model


def _images(n: int = 64):
    """n distinct 2-channel 3×3 images: image i holds 100·i + 0..17."""
    return (torch.arange(18.0).view(1, 2, 3, 3) + 100 * torch.arange(n).view(-1, 1, 1, 1)).contiguous()


def _maps(img) -> dict[str, torch.Tensor]:
    """The 8 symmetries of a square image [C, H, W], by name (r = quarter turns, f = then mirrored)."""
    out = {}
    for k in range(4):
        turned = torch.rot90(img, k, dims=(1, 2))
        out[f"r{k}"], out[f"r{k}f"] = turned, turned.flip(2)
    return out


def _which(x, out) -> list[str]:
    """For each row, the name of the map of that same row's input that the output is (a KeyError if none)."""
    names = []
    for src, got in zip(x, out):
        names.append(next(name for name, img in _maps(src).items() if torch.equal(img, got)))
    return names


@pytest.mark.parametrize(
    "spec, allowed",
    [("flip", {"r0", "r0f"}), ("rot90", {"r0", "r1", "r2", "r3"}), ("flip,rot90", set(_maps(torch.zeros(1, 3, 3))))],
)
def test_each_row_is_a_symmetry_of_its_own_input_and_all_occur(spec, allowed):
    x = _images()
    out = augment_batch(x, augment_ops(spec, x), torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    assert set(_which(x, out)) == allowed  # row i comes from image i: the labels keep their order


def test_the_seed_decides_the_draws():
    x, ops = _images(), ("flip", "rot90")
    first = augment_batch(x, ops, torch.Generator().manual_seed(5))
    assert torch.equal(first, augment_batch(x, ops, torch.Generator().manual_seed(5)))
    assert not torch.equal(first, augment_batch(x, ops, torch.Generator().manual_seed(6)))
    assert augment_batch(x, (), torch.Generator()) is x


def test_flip_mirrors_left_to_right():
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]]).repeat(16, 1, 1, 1)
    out = augment_batch(x, ("flip",), torch.Generator().manual_seed(0))
    mirrored = torch.tensor([[2.0, 1.0], [4.0, 3.0]])
    assert all(torch.equal(o[0], x[0, 0]) or torch.equal(o[0], mirrored) for o in out)


@pytest.mark.parametrize(
    "spec, shape, words",
    [("rot90", (4, 3, 4, 5), "square"), ("flip", (4, 10), "image inputs"), ("flip,crop", (4, 3, 4, 4), "crop")],
)
def test_inputs_it_cannot_augment_are_refused_in_one_line(spec, shape, words):
    with pytest.raises(ConfigError) as err:
        augment_ops(spec, torch.zeros(shape))
    assert words in str(err.value) and "\n" not in str(err.value)


def test_training_with_augmentation_is_reproducible_and_differs_from_without():
    def run(augment: str):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 2), torch.nn.Flatten(), torch.nn.Linear(12, 2))
        cfg = TrainConfig(epochs=2, batch_size=8, lr=0.1, augment=augment, seed=3)
        train_model(model, _images(16) / 1000, torch.arange(16) % 2, cfg)
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    assert torch.equal(run("flip,rot90"), run("flip,rot90"))
    assert not torch.equal(run("flip,rot90"), run(""))


def test_dp_sgd_augments_its_poisson_batches_reproducibly():
    pytest.importorskip("opacus")

    def run(augment: str):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 2), torch.nn.Flatten(), torch.nn.Linear(12, 2))
        cfg = TrainConfig(epochs=1, batch_size=8, lr=0.1, epsilon=8.0, augment=augment, seed=3)
        train_model(model, _images(16) / 1000, torch.arange(16) % 2, cfg)
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    assert torch.equal(run("flip,rot90"), run("flip,rot90"))
    assert not torch.equal(run("flip,rot90"), run(""))
