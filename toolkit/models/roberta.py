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

from toolkit.errors import ConfigError, ModelError
from toolkit.models import register_architecture

__all__ = ["require_transformers", "config_from_state", "roberta_sst2", "load_roberta", "PAD_ID"]

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


def load_roberta(folder: Path, n_classes: int = 2):
    """Build from ``folder/config.json`` and load ``folder/pytorch_model.bin``, in eval mode."""
    from toolkit.models import load_state_dict

    transformers = require_transformers()
    folder = Path(folder)
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise ModelError(
            f"missing {cfg_path}", "the MICO SST-2 model folders hold config.json beside pytorch_model.bin"
        )
    try:
        config = transformers.RobertaConfig.from_dict(json.loads(cfg_path.read_text()))
    except ValueError as exc:
        raise ModelError(f"{cfg_path} is not a valid RoBERTa config: {exc}") from None
    model = roberta_sst2(n_classes, config)
    try:
        model.load_state_dict(load_state_dict(folder / "pytorch_model.bin"))
    except RuntimeError as exc:
        raise ModelError(f"{folder} does not fit its config.json: {str(exc).splitlines()[0][:200]}") from None
    return model.eval()
