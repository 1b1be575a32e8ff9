"""SST-2 (MICO): GLUE sst2 train (67,349 sentences) then validation (872), tokenised for RoBERTa.

Files are the GLUE TSVs (``SST-2/train.tsv``, ``SST-2/dev.tsv``, header ``sentence<TAB>label``),
read literally: GLUE sentences hold unbalanced quotes, so no quote processing. The tokenizer is
roberta-base's, from a local folder (``vocab.json`` + ``merges.txt``); ids are padded to 67 with
<pad> = 1. ``transformers`` is the optional ``sst2`` extra, imported only here.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from toolkit.data import Population, cached_arrays, files_hash, first_existing, register_dataset
from toolkit.errors import FormatError, one_line
from toolkit.io import read_bounded

__all__ = ["MAX_LENGTH", "MAX_TSV_BYTES", "read_split", "tokenize", "load_sst2"]

MAX_LENGTH = 67
MAX_TSV_BYTES = 64 * 1024 * 1024  # GLUE's train.tsv is 4.3 MB
MAX_SENTENCE = 10_000  # characters; GLUE's longest sentence has 268
ORIGIN = (
    "GLUE's SST-2 folder (train.tsv, dev.tsv) under DATA/sst2/SST-2 and the roberta-base tokenizer files "
    "(vocab.json, merges.txt) under DATA/sst2/roberta-base, or both under --dataset-dir"
)


def read_split(path: Path) -> tuple[list[str], np.ndarray]:
    """(sentences, int64 labels) from one GLUE TSV with a ``sentence``/``label`` header.

    Read through a bounded reader (``MAX_TSV_BYTES``; GLUE's train.tsv is 4.3 MB) and parsed
    strictly: UTF-8, tab-separated, no quote processing, one sentence of at most ``MAX_SENTENCE``
    characters and a 0/1 label per row. Anything else is one ``FormatError`` naming the file.
    """
    path = Path(path)
    too_long = f"{path}: over {MAX_TSV_BYTES:,} bytes, far more than GLUE's SST-2 split"
    raw = read_bounded(path, MAX_TSV_BYTES, lambda: FormatError(too_long, ORIGIN))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(f"{path}: not UTF-8 text (byte {exc.start})", ORIGIN) from None
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE))
    except csv.Error as exc:  # a field over csv's size limit, a NUL on some Pythons
        raise FormatError(f"{path}: not a readable TSV ({one_line(exc, 80)})", ORIGIN) from None
    if not rows or rows[0][:2] != ["sentence", "label"]:
        got = one_line(repr(rows[0][:2]), 80) if rows else "nothing"
        raise FormatError(f"{path}: expected a header 'sentence<TAB>label', found {got}", ORIGIN)
    body = [r for r in rows[1:] if r]
    bad = [
        i + 2 for i, r in enumerate(body) if len(r) != 2 or r[1].strip() not in ("0", "1") or len(r[0]) > MAX_SENTENCE
    ]
    if bad:
        raise FormatError(f"{path}: {len(bad)} row(s) are not 'sentence<TAB>0|1' (first at line {bad[0]})", ORIGIN)
    return [r[0] for r in body], np.asarray([int(r[1]) for r in body], dtype=np.int64)


def tokenize(sentences: list[str], tokenizer_dir: Path) -> np.ndarray:
    """int64 [n, 67] token ids, <s> … </s>, truncated and padded with <pad>."""
    from toolkit.models.roberta import require_transformers

    transformers = require_transformers()
    tok = transformers.RobertaTokenizer.from_pretrained(str(tokenizer_dir))
    enc = tok(sentences, padding="max_length", truncation=True, max_length=MAX_LENGTH, return_tensors="np")
    return np.asarray(enc["input_ids"], dtype=np.int64)


@register_dataset("sst2")
def load_sst2(data_dir: Path | None = None, dataset_dir: Path | None = None) -> Population:
    root = dataset_dir or (data_dir or Path("data")) / "sst2"
    train = first_existing([root / "SST-2" / "train.tsv", root / "train.tsv"], "GLUE SST-2 train.tsv", ORIGIN)
    dev = first_existing([train.parent / "dev.tsv"], "GLUE SST-2 dev.tsv", ORIGIN)
    vocab = first_existing(
        [root / "roberta-base" / "vocab.json", root.parent / "roberta-base" / "vocab.json"],
        "roberta-base tokenizer",
        ORIGIN,
    )
    merges = first_existing([vocab.parent / "merges.txt"], "roberta-base merges.txt", ORIGIN)
    digest = files_hash([train, dev, vocab, merges])

    def parse():
        (s_train, y_train), (s_dev, y_dev) = read_split(train), read_split(dev)
        return tokenize(s_train + s_dev, vocab.parent), np.concatenate([y_train, y_dev])

    x, y = cached_arrays(f"sst2-{digest[:16]}", parse)
    return Population(x, y, f"sst2:{digest[:16]}", f"{train} and {dev}")
