"""The ResNet18 public/private task: a public and a private pickled dataset and one target state dict.

The files' names, the images' size and the organisers' transform come from the track's ``[files]``
table (``TaskLayout``): 2025 ``pub.pt``/``priv_out.pt``/``01_MIA.pt``, 3×32×32; 2026
``pub.pt``/``priv.pt``/``model.pt``, 3×28×28 resized to 32. The organisers ``torch.save``-d whole
instances of classes from their own script, so the pickles name ``__main__.MembershipDataset`` or
``__main__.TaskDataset``. They are read with torch's ``weights_only`` unpickler and an allow-list of
exactly those two names, mapped to the classes below: anything else (``os.system``, another
``__main__`` class) is refused before it can run. A private set's membership may be absent, ``None``
or −1 (unknown). Images are resized (bilinear, as ``Resize`` does) and normalised as the organisers'
transform does. The population is the public set, then the private one.
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
from toolkit.task_format import TaskFiles

__all__ = [
    "N_CLASSES",
    "MEAN",
    "STD",
    "TaskLayout",
    "layout_of",
    "TMLSplit",
    "TMLTask",
    "read_membership_dataset",
    "find_target_model",
    "load_task",
    "load_tml",
]

N_CLASSES = 44  # the 2025 edition's; a track's n_classes wins
MEAN, STD = TaskFiles().mean, TaskFiles().std  # the 2025 edition's transform


@dataclass(frozen=True)
class TaskLayout:
    """How one edition's files are read: its ``[files]`` table and the track's class count (hashable)."""

    files: TaskFiles = TaskFiles()
    n_classes: int = N_CLASSES

    @property
    def origin(self) -> str:
        model = self.files.model or "the target's *.pt state dict"
        return (
            f"the organisers' task files: {self.files.public}, {self.files.private} and {model}, in one folder (DATA)"
        )


def layout_of(track) -> TaskLayout:
    """A tml track's layout: its ``[files]`` (the 2025 edition's where it has none) and ``n_classes``."""
    return TaskLayout(track.files or TaskFiles(), track.n_classes)


DEFAULT = TaskLayout()


class TaskDataset:
    """Stand-in for the organisers' ``__main__.TaskDataset``: unpickling only fills ``__dict__``."""


class MembershipDataset(TaskDataset):
    """Stand-in for ``__main__.MembershipDataset`` (adds ``membership``)."""


_SAFE = [(TaskDataset, "__main__.TaskDataset"), (MembershipDataset, "__main__.MembershipDataset")]


@dataclass(frozen=True, eq=False)
class TMLSplit:
    """One file's samples: ids int64 [n], images float32 [n, 3, S, S] (the organisers' transform applied,
    S = ``input_size``), labels int64, membership int8 (1 member, 0 non-member, -1 unknown)."""

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
    layout: TaskLayout = DEFAULT

    @property
    def input_paths(self) -> tuple[Path, Path, Path]:
        """The public file, the private file and the target, as read."""
        return (self.folder / self.layout.files.public, self.folder / self.layout.files.private, self.model_path)


def _unpickle(path: Path, origin: str):
    import torch

    try:
        with torch.serialization.safe_globals(_SAFE):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if found is None:  # a damaged stream, not a refused global
            raise FormatError(f"{path} is not a readable torch file ({one_line(exc, 120)})", origin) from None
        raise FormatError(
            f"{path}: refused to unpickle global {found.group(1)}",
            "only __main__.MembershipDataset/TaskDataset and tensors are allowed in the task's data files",
        ) from None
    except Exception as exc:  # torch raises many types on a truncated or foreign file
        raise FormatError(
            f"{path} is not a readable torch file ({type(exc).__name__}: {one_line(exc, 120)})", origin
        ) from None


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63


def _image_problems(imgs, size: int) -> list[str]:
    import torch

    if any(
        not isinstance(x, torch.Tensor)
        or tuple(x.shape) != (3, size, size)
        or not x.is_floating_point()
        or x.layout != torch.strided
        for x in imgs
    ):
        return [f"imgs must be 3×{size}×{size} float tensors (the track's [files] image_size)"]
    if any(not bool(torch.isfinite(x).all()) for x in imgs):
        return ["imgs hold NaN or infinite values"]
    return []


def _field_problems(obj, layout: TaskLayout) -> list[str]:
    """Every way the object's fields break the organisers' format (lists of ids, images, labels, membership).

    A plain ``TaskDataset`` (the 2026 private file) may have no membership: it is unknown, as None or −1 is.
    """
    names = ("ids", "imgs", "labels", "membership")
    fields = dict(vars(obj))
    if "membership" not in fields and isinstance(fields.get("ids"), (list, tuple)):
        fields["membership"] = [None] * len(fields["ids"])
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
    if any(not (_is_int(y) and 0 <= y < layout.n_classes) for y in labels):
        problems.append(f"labels must lie in 0..{layout.n_classes - 1} (the track's n_classes is {layout.n_classes})")
    known = [m is not None and m != -1 for m in membership]
    if (any(known) and not all(known)) or any(not (m is None or (_is_int(m) and m in (-1, 0, 1))) for m in membership):
        problems.append("membership must be all 0/1 (public) or all unknown: absent, None or -1 (private)")
    return problems + _image_problems(imgs, layout.files.image_size)


def organisers_transform(images: np.ndarray, files: TaskFiles) -> np.ndarray:
    """float32 [n, 3, s, s] in [0, 1] -> [n, 3, S, S]: resize to ``input_size`` (bilinear, antialiased, as
    torchvision's ``Resize`` on tensors), then normalise with the task's mean and std."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    if files.input_size != files.image_size and len(x):
        size = (files.input_size, files.input_size)
        x = torch.nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    mean, std = (torch.tensor(v, dtype=torch.float32).view(1, 3, 1, 1) for v in (files.mean, files.std))
    return ((x - mean) / std).numpy()


def read_membership_dataset(path: Path, layout: TaskLayout = DEFAULT) -> TMLSplit:
    """One organiser file as arrays (the transform applied), every field problem reported together."""
    import torch

    obj = _unpickle(Path(path), layout.origin)
    if not isinstance(obj, TaskDataset):
        raise FormatError(
            f"{path} holds a {type(obj).__name__}, expected the organisers' MembershipDataset", layout.origin
        )
    problems = _field_problems(obj, layout)
    raise_if_problems(
        [f"{path}: {problems[0]}", *problems[1:]] if problems else [], FormatError, "not a valid task dataset"
    )
    n, size = len(obj.ids), layout.files.image_size
    raw = torch.stack([x.detach() for x in obj.imgs]).float().numpy() if n else np.zeros((0, 3, size, size), np.float32)
    membership = getattr(obj, "membership", None) or [None] * n
    return TMLSplit(
        np.asarray(obj.ids, dtype=np.int64),
        organisers_transform(raw, layout.files),
        np.asarray(obj.labels, dtype=np.int64),
        np.asarray([-1 if m is None else m for m in membership], dtype=np.int8),
    )


def find_target_model(folder: Path, layout: TaskLayout = DEFAULT) -> Path:
    """The target's state dict: ``[files] model`` where the track names it, else the one ``*.pt`` in ``folder``
    that is not a data file (``01_MIA.pt`` in the 2025 release)."""
    folder = Path(folder)
    if layout.files.model:
        return first_existing([folder / layout.files.model], "the target model", layout.origin)
    found = sorted(p for p in folder.glob("*.pt") if p.name not in layout.files.data_files) if folder.is_dir() else []
    if not found:
        raise DataError(f"no target model (*.pt state dict) in {folder}", layout.origin)
    if len(found) > 1:
        raise DataError(
            f"{len(found)} candidate target models in {folder}: {', '.join(p.name for p in found)}",
            f"keep only the target's state dict beside {' and '.join(layout.files.data_files)}, "
            "or name it in the track's [files] model",
        )
    return found[0]


@lru_cache(maxsize=4)
def _load(folder: Path, digest: str, layout: TaskLayout) -> tuple[TMLSplit, TMLSplit]:
    public, private = layout.files.data_files
    pub, priv = (read_membership_dataset(folder / name, layout) for name in (public, private))
    if (pub.membership < 0).any():
        raise DataError(f"{folder / public} has no membership labels", f"{public} is the labelled public set")
    shared = np.intersect1d(pub.ids, priv.ids)
    if len(shared):
        raise DataError(
            f"{public} and {private} share {len(shared)} ids (e.g. {shared[0]})", "ids must be unique across both files"
        )
    return pub, priv


def _data_files(folder: Path, layout: TaskLayout) -> list[Path]:
    return [
        first_existing([Path(folder) / name], f"the task's {name}", layout.origin) for name in layout.files.data_files
    ]


def load_task(folder: Path, layout: TaskLayout = DEFAULT) -> TMLTask:
    """The public and private sets and the target model's path; files are re-read only when their content changes."""
    folder = Path(folder)
    files = _data_files(folder, layout)
    digest = files_hash(files)
    pub, priv = _load(folder.resolve(), digest, layout)
    return TMLTask(folder, pub, priv, find_target_model(folder, layout), layout)


@register_dataset("tml")
def load_tml(
    data_dir: Path | None = None, dataset_dir: Path | None = None, options: TaskLayout = DEFAULT
) -> Population:
    folder = Path(dataset_dir or data_dir or "data")
    files = _data_files(folder, options)
    digest = files_hash(files)
    pub, priv = _load(folder.resolve(), digest, options)
    suffix = (
        ""
        if options.files.transform_label() == DEFAULT.files.transform_label()
        else ":" + options.files.transform_label()
    )
    return Population(
        np.concatenate([pub.images, priv.images]),
        np.concatenate([pub.labels, priv.labels]),
        f"tml:{digest[:16]}{suffix}",
        f"{files[0]} and {files[1]}",
    )
