"""The ResNet18 task's outputs: the target's and the shadows' logits over the population, read once.

``collect_outputs`` runs the target and the shadows over the whole population (the public rows
first, then the private ones) through the content-addressed cache (``toolkit.outputs.get_outputs``),
in the task's layout, and hands them on as one ``TMLOutputs`` with the shadows' keep mask: what
every candidate attack reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toolkit.data.tml import TMLTask
from toolkit.errors import ConfigError

__all__ = ["ARCH", "TMLOutputs", "output_tasks", "collect_outputs"]

ARCH = "resnet18_44"


@dataclass(frozen=True)
class TMLOutputs:
    """Everything an attack needs, over the population (pub rows first, then priv rows)."""

    ids: np.ndarray  # int64 [N]
    labels: np.ndarray  # int64 [N]
    membership: np.ndarray  # int8 [N], −1 on priv
    n_pub: int
    target: np.ndarray  # float32 [N, V, C]
    ref: np.ndarray  # float32 [R, N, V, C]
    keep: np.ndarray  # bool [R, N]


def output_tasks(task: TMLTask, model_paths, views=("orig",), batch_size: int = 1024, architecture: str = ARCH):
    """One ``OutputTask`` per model over the whole population (pub then priv), read in the task's layout."""
    from toolkit.outputs import OutputTask

    n = len(task.pub) + len(task.priv)
    return [
        OutputTask(
            model_path=Path(p),
            architecture=architecture,
            n_classes=task.layout.n_classes,
            dataset="tml",
            points=np.arange(n, dtype=np.int64),
            views=tuple(views),
            data_dir=str(task.folder),
            batch_size=batch_size,
            dataset_options=task.layout,
        )
        for p in model_paths
    ]


def collect_outputs(
    task: TMLTask,
    shadow_paths=(),
    keep=None,
    *,
    views=("orig",),
    cache_dir=None,
    jobs: int = 1,
    progress: bool = True,
    architecture: str = ARCH,
) -> TMLOutputs:
    """Target and shadow logits through the content-addressed cache (``get_outputs``)."""
    from toolkit.outputs import get_outputs, load_outputs

    paths = get_outputs(
        output_tasks(task, [task.model_path, *shadow_paths], views, architecture=architecture),
        jobs=jobs,
        cache_dir=cache_dir,
        progress=progress,
    )
    arrays = load_outputs(paths)  # models first: the target, then the shadows
    n = len(task.pub) + len(task.priv)
    ref = arrays[1:]
    keep = np.zeros((0, n), bool) if keep is None else np.asarray(keep, bool)
    if keep.shape != (len(ref), n):
        raise ConfigError(f"keep mask {keep.shape} does not match {len(ref)} shadow models × {n} points")
    return TMLOutputs(
        np.concatenate([task.pub.ids, task.priv.ids]),
        np.concatenate([task.pub.labels, task.priv.labels]),
        np.concatenate([task.pub.membership, task.priv.membership]),
        len(task.pub),
        arrays[0],
        ref,
        keep,
    )
