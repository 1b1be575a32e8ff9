"""The ResNet18 public/private task: ``pub.pt``, ``priv_out.pt`` and one target state dict.

The organisers ``torch.save``-d whole instances of classes from their own script, so the pickles
name ``__main__.MembershipDataset`` (a ``__main__.TaskDataset``). They are read with torch's
``weights_only`` unpickler and an allow-list of exactly those two names, mapped to the classes
below: anything else (``os.system``, another ``__main__`` class) is refused before it can run.
Images are normalised with the task's mean/std. The population is ``pub`` then ``priv``.
"""

from __future__ import annotations

import pickle
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from toolkit.data import Population, files_hash, first_existing, register_dataset
from toolkit.errors import DataError, FormatError, one_line, raise_if_problems

__all__ = [
    "N_CLASSES",
    "MEAN",
    "STD",
    "TMLSplit",
    "TMLTask",
    "read_membership_dataset",
    "find_target_model",
    "load_task",
    "load_tml",
]

N_CLASSES = 44
MEAN = (0.2980, 0.2962, 0.2987)
STD = (0.2886, 0.2875, 0.2889)
DATA_FILES = ("pub.pt", "priv_out.pt")
ORIGIN = "the organisers' task files: pub.pt, priv_out.pt and the target's *.pt state dict, in one folder (DATA)"


class TaskDataset:
    """Stand-in for the organisers' ``__main__.TaskDataset``: unpickling only fills ``__dict__``."""


class MembershipDataset(TaskDataset):
    """Stand-in for ``__main__.MembershipDataset`` (adds ``membership``)."""


_SAFE = [(TaskDataset, "__main__.TaskDataset"), (MembershipDataset, "__main__.MembershipDataset")]


@dataclass(frozen=True, eq=False)
class TMLSplit:
    """One file's samples: ids int64 [n], images float32 [n, 3, 32, 32] (normalised), labels int64,
    membership int8 (1 member, 0 non-member, -1 unknown)."""

    ids: np.ndarray
    images: np.ndarray
    labels: np.ndarray
    membership: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True, eq=False)
class TMLTask:
    folder: Path
    pub: TMLSplit
    priv: TMLSplit
    model_path: Path


def _unpickle(path: Path):
    import torch

    try:
        with torch.serialization.safe_globals(_SAFE):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if found is None:  # a damaged stream, not a refused global
            raise FormatError(f"{path} is not a readable torch file ({one_line(exc, 120)})", ORIGIN) from None
        raise FormatError(
            f"{path}: refused to unpickle global {found.group(1)}",
            "only __main__.MembershipDataset/TaskDataset and tensors are allowed in the task's data files",
        ) from None
    except Exception as exc:  # torch raises many types on a truncated or foreign file
        raise FormatError(
            f"{path} is not a readable torch file ({type(exc).__name__}: {one_line(exc, 120)})", ORIGIN
        ) from None


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63


def _image_problems(imgs) -> list[str]:
    import torch

    if any(
        not isinstance(x, torch.Tensor)
        or tuple(x.shape) != (3, 32, 32)
        or not x.is_floating_point()
        or x.layout != torch.strided
        for x in imgs
    ):
        return ["imgs must be 3×32×32 float tensors"]
    if any(not bool(torch.isfinite(x).all()) for x in imgs):
        return ["imgs hold NaN or infinite values"]
    return []


def _field_problems(obj) -> list[str]:
    """Every way the object's fields break the organisers' format (lists of ids, images, labels, membership)."""
    names = ("ids", "imgs", "labels", "membership")
    fields = vars(obj)
    problems = [f"field {f!r} is missing" for f in names if f not in fields]
    problems += [
        f"field {f!r} must be a list, got {type(fields[f]).__name__}"
        for f in names
        if f in fields and not isinstance(fields[f], (list, tuple))
    ]
    if problems:
        return problems
    ids, imgs, labels, membership = (fields[f] for f in names)
    n = len(ids)
    problems += [f"{f} has {len(fields[f])} entries, ids has {n}" for f in names[1:] if len(fields[f]) != n]
    if not all(_is_int(i) for i in ids):
        problems.append("ids must be integers that fit int64")
    elif len(set(ids)) != n:
        problems.append(f"ids are not unique ({n - len(set(ids))} repeats)")
    if any(not (_is_int(y) and 0 <= y < N_CLASSES) for y in labels):
        problems.append(f"labels must lie in 0..{N_CLASSES - 1}")
    kinds = {m is None for m in membership}
    if len(kinds) > 1 or any(not (m is None or (_is_int(m) and m in (0, 1))) for m in membership):
        problems.append("membership must be all 0/1 (pub) or all None (priv)")
    return problems + _image_problems(imgs)


def read_membership_dataset(path: Path) -> TMLSplit:
    """One organiser file as arrays, every field problem reported together."""
    import torch

    obj = _unpickle(Path(path))
    if not isinstance(obj, TaskDataset):
        raise FormatError(f"{path} holds a {type(obj).__name__}, expected the organisers' MembershipDataset", ORIGIN)
    problems = _field_problems(obj)
    raise_if_problems(
        [f"{path}: {problems[0]}", *problems[1:]] if problems else [], FormatError, "not a valid task dataset"
    )
    n = len(obj.ids)
    images = torch.stack([x.detach() for x in obj.imgs]).float().numpy() if n else np.zeros((0, 3, 32, 32), np.float32)
    mean, std = (np.asarray(v, np.float32).reshape(1, 3, 1, 1) for v in (MEAN, STD))
    images = (images - mean) / std
    membership = np.asarray([-1 if m is None else m for m in obj.membership], dtype=np.int8)
    return TMLSplit(
        np.asarray(obj.ids, dtype=np.int64),
        images.astype(np.float32),
        np.asarray(obj.labels, dtype=np.int64),
        membership,
    )


def find_target_model(folder: Path) -> Path:
    """The one ``*.pt`` in ``folder`` that is not a data file (``01_MIA.pt`` in the course's release)."""
    folder = Path(folder)
    found = sorted(p for p in folder.glob("*.pt") if p.name not in DATA_FILES) if folder.is_dir() else []
    if not found:
        raise DataError(f"no target model (*.pt state dict) in {folder}", ORIGIN)
    if len(found) > 1:
        raise DataError(
            f"{len(found)} candidate target models in {folder}: {', '.join(p.name for p in found)}",
            "keep only the target's state dict beside pub.pt and priv_out.pt",
        )
    return found[0]


@lru_cache(maxsize=4)
def _load(folder: Path, digest: str) -> tuple[TMLSplit, TMLSplit]:
    pub, priv = (read_membership_dataset(folder / name) for name in DATA_FILES)
    shared = np.intersect1d(pub.ids, priv.ids)
    if len(shared):
        raise DataError(
            f"pub.pt and priv_out.pt share {len(shared)} ids (e.g. {shared[0]})", "ids must be unique across both files"
        )
    return pub, priv


def _data_files(folder: Path) -> list[Path]:
    return [first_existing([Path(folder) / name], f"the task's {name}", ORIGIN) for name in DATA_FILES]


def load_task(folder: Path) -> TMLTask:
    """pub, priv and the target model path; files are re-read only when their content changes."""
    folder = Path(folder)
    files = _data_files(folder)
    pub, priv = _load(folder.resolve(), files_hash(files))
    return TMLTask(folder, pub, priv, find_target_model(folder))


@register_dataset("tml")
def load_tml(data_dir: Path | None = None, dataset_dir: Path | None = None) -> Population:
    folder = Path(dataset_dir or data_dir or "data")
    files = _data_files(folder)
    digest = files_hash(files)
    pub, priv = _load(folder.resolve(), digest)
    return Population(
        np.concatenate([pub.images, priv.images]),
        np.concatenate([pub.labels, priv.labels]),
        f"tml:{digest[:16]}",
        f"{files[0]} and {files[1]}",
    )
