"""Tiny fixtures in the MICO organisers' exact formats (test helpers, not tests).

- CIFAR-10 batches written as Python 2 pickles (SHORT_BINSTRING strings, ``numpy.core.multiarray``
  globals) like the real ``cifar-10-batches-py`` files;
- the Purchase-100 text file;
- GLUE SST-2 TSVs and a tiny byte-level BPE RoBERTa tokenizer/model made locally;
- MICO model folders: seed files, ``solution.csv`` for train models, weights (optionally behind
  Opacus's ``_module.`` prefix), and the hidden dev/final answers where ``check`` finds them.
"""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path

import numpy as np

from toolkit.mico.challenge import make_splits, write_solution
from toolkit.tracks import parse_track

_RECONSTRUCT = np.ndarray(0).__reduce__()[0]
_MODULES = {id(np.ndarray): "numpy", id(np.dtype): "numpy", id(_RECONSTRUCT): "numpy.core.multiarray"}


class Py2Pickler(pickle._Pickler):
    """Writes what Python 2's cPickle wrote: str as 8-bit strings, numpy 1.x global names."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_bytes(self, obj):
        n = len(obj)
        self.write((pickle.SHORT_BINSTRING + bytes([n]) if n < 256 else pickle.BINSTRING + struct.pack("<i", n)) + obj)
        self.memoize(obj)

    def _save_str(self, obj):
        self._save_bytes(obj.encode("latin1"))

    dispatch[bytes] = _save_bytes
    dispatch[str] = _save_str

    def save_global(self, obj, name=None):
        name = name or obj.__name__
        self.write(pickle.GLOBAL + _MODULES[id(obj)].encode() + b"\n" + name.encode() + b"\n")
        self.memoize(obj)


def py2_pickle(obj) -> bytes:
    buf = io.BytesIO()
    Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def write_cifar(root: Path, per_batch: int = 100, seed: int = 0) -> np.ndarray:
    """``root/cifar-10-batches-py`` with 6 batches of ``per_batch`` images; returns uint8 [6·per_batch, 3072]."""
    from toolkit.data.cifar10 import BATCHES

    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for k, name in enumerate(BATCHES):
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, per_batch)]
        batch = {
            "batch_label": f"batch {k}",
            "labels": labels,
            "data": data,
            "filenames": [f"img_{k}_{i}.png" for i in range(per_batch)],
        }
        (folder / name).write_bytes(py2_pickle(batch))
        rows.append(data)
    return np.concatenate(rows)


def write_purchase(path: Path, n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The ``dataset_purchase`` text file: label 1..100, then 600 binary features per row."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(1, 101, n)
    x = (rng.random((n, 600)) < 0.2).astype(np.int64)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(map(str, [lab, *row])) for lab, row in zip(labels.tolist(), x.tolist())]
    Path(path).write_text("\n".join(lines) + "\n")
    return x, labels


WORDS = ["good", "bad", "film", "movie", "great", "awful", "plot", "actors", "it", "'s", "a", "not", '"fun"']


def write_sst2(root: Path, n_train: int = 500, n_val: int = 100, seed: int = 0) -> None:
    """GLUE-style ``root/SST-2/{train,dev}.tsv`` and a tiny tokenizer in ``root/roberta-base``."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "SST-2"
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("train.tsv", n_train), ("dev.tsv", n_val)):
        rows = ["sentence\tlabel", '"fun" , it \'s a film \t1']  # GLUE rows hold unbalanced quotes
        for _ in range(n - 1):
            words = rng.choice(WORDS, size=rng.integers(2, 30))
            rows.append(f"{' '.join(words)} \t{int(rng.integers(0, 2))}")
        (folder / name).write_text("\n".join(rows) + "\n")
    write_tokenizer(Path(root) / "roberta-base")


def write_tokenizer(folder: Path) -> int:
    """roberta-base's file layout (vocab.json, merges.txt, config.json) with a tiny byte-level BPE.

    RoBERTa's special tokens keep their ids (<s> 0, <pad> 1, </s> 2, <unk> 3); returns the vocab size.
    """
    import json

    # GPT-2's byte → printable-character table: printable bytes map to themselves, others to 256+.
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    shifted = [b for b in range(256) if b not in printable]
    alphabet = [chr(b) for b in printable] + [chr(256 + i) for i in range(len(shifted))]
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for token in alphabet + ["\u0120g", "oo"]:
        vocab.setdefault(token, len(vocab))
    vocab["<mask>"] = len(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n\u0120 g\no o\n")
    (folder / "config.json").write_text(json.dumps({"model_type": "roberta", "vocab_size": len(vocab)}))
    return len(vocab)


def tiny_roberta_config(vocab_size: int = 263):
    from transformers import RobertaConfig

    return RobertaConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        num_hidden_layers=1,
        num_attention_heads=1,
        intermediate_size=64,
        max_position_embeddings=70,
        num_labels=2,
        pad_token_id=1,
        type_vocab_size=1,
        layer_norm_eps=1e-5,
    )


def write_weights(folder: Path, architecture: str, n_classes: int, seed: int, prefix: str = "") -> None:
    """Randomly initialised weights in the organisers' file for this architecture."""
    import torch

    from toolkit.models import build_model

    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    if architecture == "roberta_sst2":
        from transformers import RobertaForSequenceClassification

        model = RobertaForSequenceClassification(tiny_roberta_config())
        model.config.to_json_file(str(folder / "config.json"))
        name = "pytorch_model.bin"
    else:
        model = build_model(architecture, n_classes)
        name = "model.pt"
    torch.save({prefix + k: v for k, v in model.state_dict().items()}, folder / name)


def write_scenario(
    data_dir: Path,
    task: str,
    folder: str,
    N: int,
    n: int,
    m: int,
    counts=(4, 2, 2),
    weights=None,
    reveal_training: bool = False,
    seed: int = 0,
) -> Path:
    """``data_dir/task/folder/{train,dev,final}/model_<id>/`` with seeds, solutions and weights.

    ``weights(model_dir, splits, model_id)`` writes the model file; dev/final answers go to
    ``answers_dir`` so that the checker can score them.
    """
    rng = np.random.default_rng(seed)
    root = Path(data_dir) / task / folder
    next_id = 0
    for phase, count in zip(("train", "dev", "final"), counts):
        for _ in range(count):
            seeds = [int(v) for v in rng.integers(0, 2**63 - 1, 3, dtype=np.int64)]
            md = root / phase / f"model_{next_id}"
            md.mkdir(parents=True, exist_ok=True)
            revealed = {"train": 3, "dev": 1, "final": 1}[phase]
            if phase != "train" and reveal_training:
                revealed = 2
            for name, value in list(zip(("seed_challenge", "seed_training", "seed_membership"), seeds))[:revealed]:
                (md / name).write_text(f"{value}\n")
            splits = make_splits(N, n, m, *seeds)
            if phase == "train":
                write_solution(md / "solution.csv", splits.solution)
            else:
                ans = Path(data_dir) / "answers" / task / folder / phase / f"model_{next_id}"
                write_solution(ans / "solution.csv", splits.solution)
            weights(md, splits, next_id)
            next_id += 1
    return root


def mico_track(
    name: str,
    task: str,
    dataset: str,
    architecture: str,
    n_classes: int,
    N: int,
    n: int,
    m: int,
    scenarios: dict[str, dict],
):
    """A test-sized ``Track`` through the same validation as a track.toml."""
    return parse_track(
        {
            "track": dict(
                name=name,
                task=task,
                kind="mico",
                dataset=dataset,
                architecture=architecture,
                n_classes=n_classes,
                population_size=N,
                len_training=n,
                m=m,
            ),
            "scenarios": scenarios,
        }
    )
