"""Architectures by name and safe model loading.

Model files come from strangers: weights are read with ``weights_only=True`` and the Opacus
wrapper's ``_module.`` prefix is stripped. Heavy architectures (RoBERTa) import lazily.
"""

from __future__ import annotations

import io
from pathlib import Path

from toolkit.errors import ModelError, one_line
from toolkit.registry import Registry

__all__ = [
    "register_architecture",
    "architecture_names",
    "build_model",
    "load_state_dict",
    "fit_weights",
    "describe_state",
    "load_model",
    "save_model",
    "model_file",
    "default_device",
]

_ARCHS = Registry("architecture", lambda: [f"{__name__}.{m}" for m in ("demo", "mico", "resnet", "roberta")])
WEIGHT_FILES = ("model.pt", "pytorch_model.bin")


def register_architecture(name: str):
    """Decorator: make a model builder available by ``name`` (``build_model``; a name is registered once)."""
    return _ARCHS.register(name)


def architecture_names() -> list[str]:
    """Every registered architecture's name, sorted."""
    return _ARCHS.names()


def build_model(arch: str, n_classes: int, *, seed: int | None = None, **kwargs):
    """A freshly initialised model of a registered architecture.

    ``seed`` seeds torch's global RNG first, so the initialisation follows from it alone and not
    from whatever ran earlier in the process (a worker's previous job, say).
    """
    builder = _ARCHS.get(arch)
    if seed is not None:
        import torch

        torch.manual_seed(seed)
    return builder(n_classes=n_classes, **kwargs)


def default_device() -> str:
    """'cuda' where torch sees a GPU, else 'cpu': where models run and train unless told otherwise."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def model_file(model_dir: Path) -> Path:
    """The weights file in a MICO model folder (``model.pt`` or ``pytorch_model.bin``)."""
    for name in WEIGHT_FILES:
        if (Path(model_dir) / name).is_file():
            return Path(model_dir) / name
    raise ModelError(f"no model weights in {model_dir}: expected one of {', '.join(WEIGHT_FILES)}")


def load_state_dict(path: Path) -> dict:
    """Read a state dict with ``weights_only=True``; strip the ``_module.`` prefix of DP models."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file missing: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or unsafe files
        unsafe = "weights_only" in str(exc) and "global" in str(exc).lower()
        why = (
            "it holds objects other than tensors, refused by weights_only loading"
            if unsafe
            else f"not a readable PyTorch file ({type(exc).__name__})"
        )
        raise ModelError(
            f"cannot read model {path}: {why}", "re-download the model folder; weights must be a plain state dict"
        ) from None
    if hasattr(state, "state_dict") and not isinstance(state, dict):
        state = state.state_dict()
    if not isinstance(state, dict):
        raise ModelError(f"{path} holds a {type(state).__name__}, expected a state dict")
    return _checked_state(state, path)


def _checked_state(state: dict, path: Path) -> dict:
    """Names → dense, finite CPU tensors, with the Opacus ``_module.`` prefix stripped.

    weights_only loading lets through any tensors under any keys; a non-string key, a nested
    checkpoint, NaN/Inf weights (every logit would be NaN) or two names for one weight (``x`` and
    ``_module.x``) are refused here, naming the file and the entry.
    """
    import torch

    out = {}
    for key, value in state.items():
        if not isinstance(key, str):
            raise ModelError(
                f"{path}: state-dict key {key!r:.60} is not a string", "weights must be a plain state dict"
            )
        name = key.removeprefix("_module.")
        where = f"{path}: entry {name!r:.80}"
        if not isinstance(value, torch.Tensor):
            raise ModelError(
                f"{where} holds a {type(value).__name__}, expected a tensor",
                "a training checkpoint? save model.state_dict() itself",
            )
        if value.layout != torch.strided or value.device.type != "cpu" or value.is_complex():
            raise ModelError(
                f"{where} is a {value.layout}/{value.device.type}/{value.dtype} tensor, expected a dense real tensor"
            )
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise ModelError(f"{where} holds NaN or infinite weights", "the model diverged or the file is damaged")
        if name in out:
            raise ModelError(f"{where} appears twice (with and without the _module. prefix)")
        out[name] = value
    return out


def fit_weights(model, state: dict, path: Path, arch: str) -> None:
    """Copy ``state`` (from ``load_state_dict``) into ``model``: every key, shape and kind of number must fit.

    torch would cast integer or boolean tensors into float parameters silently; a file holding
    them is not this architecture's weights, so it is refused like a wrong shape.
    """
    own = model.state_dict()
    for key, value in state.items():
        if key in own and own[key].is_floating_point() and not value.is_floating_point():
            raise ModelError(
                f"{path} does not fit architecture {arch!r}: entry {key!r} is {value.dtype}, "
                f"expected floating-point weights"
            )
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelError(f"{path} does not fit architecture {arch!r}: {one_line(exc, 200)}") from None


def describe_state(state: dict) -> str:
    """A ResNet state dict's stem and head in words, e.g. '3×3 stem, 512→9 head' ('?' where a key is absent)."""
    conv, fc = state.get("conv1.weight"), state.get("fc.weight")
    stem = f"{conv.shape[-1]}×{conv.shape[-2]} stem" if conv is not None and conv.dim() == 4 else "no conv1 stem"
    head = f"{fc.shape[1]}→{fc.shape[0]} head" if fc is not None and fc.dim() == 2 else "no fc head"
    return f"{stem}, {head}"


def load_model(arch: str, path: Path, n_classes: int):
    """Build ``arch`` and load the weights at ``path`` into it, in eval mode."""
    model = build_model(arch, n_classes)
    fit_weights(model, load_state_dict(path), path, arch)
    return model.eval()


def save_model(model, path: Path) -> None:
    """Save the state dict atomically."""
    import torch

    from toolkit.io import atomic_write_bytes

    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    atomic_write_bytes(Path(path), buf.getvalue())
