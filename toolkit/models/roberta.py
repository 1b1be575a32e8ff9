"""The MICO SST-2 target: a RoBERTa sequence classifier (``pytorch_model.bin`` + ``config.json``).

``transformers`` is an optional dependency (extra ``sst2``) and is imported only when a RoBERTa
model is built. The model is fed int64 token ids [b, L] padded with the tokenizer's pad id; the
attention mask is rebuilt from them (ids ≠ pad), as the organisers' tokenised batches carried it.

``toolkit.models.load_model`` builds an architecture before it knows the file, so the registered
builder returns a wrapper that creates the network when the state dict arrives: from a given
config, else from the tensor shapes (RoBERTa's heads are 64 wide: roberta-base 768/12,
roberta-large 1024/16). ``load_roberta(folder)`` reads ``config.json`` instead, when the folder is known.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from toolkit.errors import ConfigError, ModelError, one_line
from toolkit.io import read_bounded
from toolkit.models import register_architecture

__all__ = ["require_transformers", "config_from_state", "roberta_sst2", "load_roberta", "read_roberta_config", "PAD_ID"]

PAD_ID = 1  # roberta-base's <pad>
HEAD_DIM = 64
# Buffers that some transformers versions saved and others do not; never weights.
_OPTIONAL_BUFFERS = ("roberta.embeddings.position_ids", "roberta.embeddings.token_type_ids")


def require_transformers():
    """The ``transformers`` module, or a ``ConfigError`` naming the extra to install."""
    try:
        import transformers
    except ModuleNotFoundError:
        raise ConfigError(
            "install the sst2 extra: pip install -e '.[sst2]'",
            "the SST-2 track's RoBERTa models and tokenizer need the transformers package",
        ) from None
    return transformers


def config_from_state(state: dict, pad_token_id: int = PAD_ID):
    """A ``RobertaConfig`` whose sizes are read off the state dict's tensor shapes."""
    transformers = require_transformers()
    try:
        vocab, hidden = state["roberta.embeddings.word_embeddings.weight"].shape
        layers = 1 + max(int(m.group(1)) for k in state if (m := re.match(r"roberta\.encoder\.layer\.(\d+)\.", k)))
        return transformers.RobertaConfig(
            vocab_size=vocab,
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=max(1, hidden // HEAD_DIM),
            intermediate_size=state["roberta.encoder.layer.0.intermediate.dense.weight"].shape[0],
            max_position_embeddings=state["roberta.embeddings.position_embeddings.weight"].shape[0],
            type_vocab_size=state["roberta.embeddings.token_type_embeddings.weight"].shape[0],
            num_labels=state["classifier.out_proj.weight"].shape[0],
            pad_token_id=pad_token_id,
            layer_norm_eps=1e-5,
        )
    except (KeyError, ValueError) as exc:
        raise ModelError(f"not a RoBERTa sequence-classifier state dict (missing {exc})") from None


def _classifier_module():
    import torch
    from torch import nn

    class RobertaSST2(nn.Module):
        """Token ids [b, L] → logits [b, num_labels]; the network is created on first load."""

        def __init__(self, config=None, n_classes: int = 2):
            super().__init__()
            self.n_classes = n_classes
            self.net = None
            if config is not None:
                self._build(config)

        def _build(self, config):
            transformers = require_transformers()
            self.net = transformers.RobertaForSequenceClassification(config)
            self.pad_id = config.pad_token_id if config.pad_token_id is not None else PAD_ID

        def load_state_dict(self, state, strict: bool = True, assign: bool = False):
            state = {k.removeprefix("net."): v for k, v in state.items()}
            if self.net is None:
                self._build(config_from_state(state))
            own = self.net.state_dict()
            state = {k: v for k, v in state.items() if k in own or k not in _OPTIONAL_BUFFERS}
            missing = [k for k in own if k not in state and k not in _OPTIONAL_BUFFERS]
            unexpected = [k for k in state if k not in own]
            if strict and (missing or unexpected):
                raise RuntimeError(f"missing keys {missing[:5]}, unexpected keys {unexpected[:5]}")
            result = self.net.load_state_dict(state, strict=False)
            if self.net.config.num_labels != self.n_classes:
                raise RuntimeError(
                    f"the model has {self.net.config.num_labels} labels, the track expects {self.n_classes}"
                )
            self.net.eval()
            return result

        def forward(self, ids):
            if self.net is None:
                raise ModelError("RoBERTa weights were never loaded")
            ids = ids.long()
            return self.net(input_ids=ids, attention_mask=(ids != self.pad_id).long()).logits

    return RobertaSST2, torch


@register_architecture("roberta_sst2")
def roberta_sst2(n_classes: int = 2, config=None):
    """The wrapper module; pass a ``RobertaConfig`` to build the network at once (training)."""
    require_transformers()
    cls, _ = _classifier_module()
    return cls(config, n_classes)


# config.json's sizes: (key, lowest, highest). roberta-large is 1024 wide, 24 layers, 50,265 tokens;
# the bounds keep a stranger's file from making the model allocate terabytes.
_SIZES = (
    ("vocab_size", 1, 1_000_000),
    ("hidden_size", 1, 8192),
    ("num_hidden_layers", 1, 96),
    ("num_attention_heads", 1, 128),
    ("intermediate_size", 1, 65_536),
    ("max_position_embeddings", 1, 16_384),
    ("type_vocab_size", 1, 16),
    ("num_labels", 1, 1000),  # transformers builds an id2label of that many entries
)
_MAX_PARAMETERS = 2_000_000_000  # ~8 GB of float32; roberta-large has 355 M
_MAX_LABELS = 1000
_MAX_CONFIG_BYTES = 1 << 20


def _int_in(value, lo: int, hi: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def _config_problems(cfg: dict) -> list[str]:
    """Every size in ``cfg`` that is not an integer in its range, or that do not fit together."""
    problems = [
        f"{key} must be an integer in {lo}..{hi:,}, got {one_line(repr(cfg[key]), 40)}"
        for key, lo, hi in _SIZES
        if key in cfg and not _int_in(cfg[key], lo, hi)
    ]
    problems += [
        f"{key} has {len(cfg[key]):,} entries, over {_MAX_LABELS}"
        for key in ("id2label", "label2id")
        if isinstance(cfg.get(key), (dict, list, str)) and len(cfg[key]) > _MAX_LABELS
    ]
    if problems:
        return problems
    d = {**dict(vocab_size=50265, hidden_size=768, num_hidden_layers=12, num_attention_heads=12), **cfg}
    d.setdefault("intermediate_size", 3072)
    d.setdefault("max_position_embeddings", 514)
    if d["hidden_size"] % d["num_attention_heads"]:
        problems.append(f"hidden_size {d['hidden_size']} is not a multiple of num_attention_heads")
    h = d["hidden_size"]
    n = (d["vocab_size"] + d["max_position_embeddings"]) * h + d["num_hidden_layers"] * (
        4 * h * h + 2 * h * d["intermediate_size"]
    )
    if n > _MAX_PARAMETERS:
        problems.append(f"the sizes make a model of {n:,} parameters, over {_MAX_PARAMETERS:,}")
    if "pad_token_id" in cfg and not (
        cfg["pad_token_id"] is None or _int_in(cfg["pad_token_id"], 0, d["vocab_size"] - 1)
    ):
        problems.append("pad_token_id must be a token id below vocab_size")
    return problems


def read_roberta_config(path: Path):
    """A ``RobertaConfig`` from a stranger's ``config.json``, or one ``ModelError`` line naming the file.

    Bounded read, UTF-8 JSON object, every size an integer in its range and the whole model under
    ``_MAX_PARAMETERS`` (checked before transformers sees the file), and whatever transformers then
    refuses (a bad ``id2label``, an unknown ``problem_type``) is reported the same way.
    """
    transformers = require_transformers()
    path = Path(path)
    raw = read_bounded(
        path, _MAX_CONFIG_BYTES, lambda: ModelError(f"{path} is over {_MAX_CONFIG_BYTES:,} bytes, not a model config")
    )
    try:
        cfg = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ModelError(f"{path} is not JSON text ({one_line(exc, 100)})") from None
    if not isinstance(cfg, dict):
        raise ModelError(f"{path} holds a JSON {type(cfg).__name__}, expected an object of RoBERTa settings")
    problems = _config_problems(cfg)
    if problems:
        raise ModelError(f"{path} is not a valid RoBERTa config: {'; '.join(problems)}")
    try:
        config = transformers.RobertaConfig.from_dict(cfg)
    except Exception as exc:  # transformers raises many types on a value it does not take
        raise ModelError(f"{path} is not a valid RoBERTa config ({type(exc).__name__}: {one_line(exc, 120)})") from None
    if not _int_in(getattr(config, "num_labels", 2), 1, _MAX_LABELS):
        raise ModelError(f"{path}: {config.num_labels} labels (id2label), expected at most {_MAX_LABELS}")
    return config


def load_roberta(folder: Path, n_classes: int = 2):
    """Build from ``folder/config.json`` and load ``folder/pytorch_model.bin``, in eval mode."""
    from toolkit.models import load_state_dict

    require_transformers()
    folder = Path(folder)
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise ModelError(
            f"missing {cfg_path}", "the MICO SST-2 model folders hold config.json beside pytorch_model.bin"
        )
    config = read_roberta_config(cfg_path)
    model = roberta_sst2(n_classes, config)
    try:
        model.load_state_dict(load_state_dict(folder / "pytorch_model.bin"))
    except RuntimeError as exc:
        raise ModelError(f"{folder} does not fit its config.json: {str(exc).splitlines()[0][:200]}") from None
    return model.eval()
