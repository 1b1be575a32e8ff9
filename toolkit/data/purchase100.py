"""Purchase-100 (MICO): the text file ``dataset_purchase``, one row per line, in file order.

Column 0 is the label 1..100 (stored 0..99 here), columns 1..600 binary features (float32, not
normalised). Parsing 197,324 lines is slow, so the arrays are cached once per file hash.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toolkit.data import Population, cached_arrays, files_hash, first_existing, register_dataset
from toolkit.errors import FormatError, one_line

__all__ = ["N_FEATURES", "parse_purchase", "load_purchase100"]

N_FEATURES = 600
ORIGIN = (
    "the Purchase-100 file from the MICO organisers' instructions (dataset_purchase), "
    "placed at DATA/purchase100/dataset_purchase or named with --dataset-dir"
)


def parse_purchase(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(float32 [n, 600], int64 labels 0..99) from the comma-separated text file."""
    import pandas as pd

    try:
        table = pd.read_csv(path, header=None, dtype=np.int64, engine="c")
    except (ValueError, OverflowError, pd.errors.ParserError) as exc:  # a short row, text, a huge number…
        raise FormatError(f"{path}: not 601 columns of integers per row ({one_line(exc, 120)})", ORIGIN) from None
    except OSError as exc:
        raise FormatError(f"{path} cannot be read ({exc.strerror or type(exc).__name__})", ORIGIN) from None
    if table.shape[1] != N_FEATURES + 1:
        raise FormatError(
            f"{path}: rows have {table.shape[1]} columns, expected 601 columns (label, 600 features)", ORIGIN
        )
    values = table.to_numpy()
    labels = values[:, 0]
    bad = np.flatnonzero((labels < 1) | (labels > 100))
    if len(bad):
        raise FormatError(
            f"{path}: labels must lie in 1..100; row {bad[0] + 1} has {labels[bad[0]]} ({len(bad)} bad row(s))", ORIGIN
        )
    features = values[:, 1:]
    bad = np.flatnonzero(((features != 0) & (features != 1)).any(axis=1))
    if len(bad):
        raise FormatError(
            f"{path}: features must be 0 or 1; row {bad[0] + 1} has another value ({len(bad)} bad row(s))", ORIGIN
        )
    return features.astype(np.float32), labels - 1


@register_dataset("purchase100")
def load_purchase100(data_dir: Path | None = None, dataset_dir: Path | None = None) -> Population:
    if dataset_dir is not None:
        candidates = [dataset_dir] if dataset_dir.is_file() else [dataset_dir / "dataset_purchase"]
    else:
        root = data_dir or Path("data")
        candidates = [root / "purchase100" / "dataset_purchase", root / "dataset_purchase"]
    path = first_existing(candidates, "the Purchase-100 text file", ORIGIN)
    digest = files_hash([path])
    x, y = cached_arrays(f"purchase100-{digest[:16]}", lambda: parse_purchase(path))
    return Population(x, y, f"purchase100:{digest[:16]}", str(path))
