"""Run one task's model on its points: the only place a target model is evaluated.

Per process, the population is made resident on the device once, a task's point set is gathered
once (and kept for the next model on the same points) and one model skeleton per architecture is
built once, with only the weights copied in per task.
"""

from __future__ import annotations

import threading

import numpy as np

from toolkit.outputs.keys import check_points, content_key, default_device, population_of, resolve_precision
from toolkit.outputs.task import CPU_IMAGE_BATCH, OutputTask
from toolkit.views import apply_views, count_views, parse_views

__all__ = ["compute_logits", "precision_agreement", "task_inputs", "forget_gathered"]

# Per-process memos: a pipeline asks for the same inputs several times.
_RESIDENT: dict[tuple, object] = {}  # (population fingerprint, device) -> inputs tensor
_SKELETONS: dict[tuple, object] = {}  # (architecture, n_classes, device, channels_last, thread) -> model
_GATHERED: dict[tuple, tuple] = {}  # (population fingerprint, device) -> (points, inputs), the last set


def _resident_inputs(task: OutputTask, device: str):
    """The whole population as one tensor on ``device`` (zero-copy on CPU), made once per process."""
    import torch

    key = content_key(task, device)
    if key not in _RESIDENT:
        _RESIDENT[key] = torch.from_numpy(np.ascontiguousarray(population_of(task).inputs)).to(device)
    return _RESIDENT[key]


def forget_gathered() -> None:
    """Drop the gathered point set (each ``get_outputs`` call gathers its own)."""
    _GATHERED.clear()


def task_inputs(task: OutputTask, device: str):
    """The task's points, in order, as one tensor on ``device`` (image models: channels-last).

    A contiguous ascending range is a view of the resident population; any other point set is
    gathered once and kept (one per population and device) for the next task on the same points:
    reference models all run on the same challenge set, so each model's batches are plain slices.
    """
    import torch

    check_points(task)  # a direct caller (a cluster worker) gets the one-line error too
    x_all = _resident_inputs(task, device)
    points = np.asarray(task.points, dtype=np.int64)
    key = content_key(task, device)
    kept = _GATHERED.get(key)
    if kept is not None and np.array_equal(kept[0], points):
        return kept[1]
    if len(points) and np.array_equal(points, np.arange(points[0], points[0] + len(points))):
        x = x_all[points[0] : points[0] + len(points)]
    else:
        x = x_all.index_select(0, torch.as_tensor(points, device=device))
    if x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    _GATHERED[key] = (points.copy(), x)
    return x


def _load_weights(task: OutputTask, device: str, channels_last: bool):
    """The task's model: a per-process skeleton of its architecture with the task's weights copied in."""
    import torch

    from toolkit.models import build_model, fit_weights, load_state_dict

    # one skeleton per thread: Dask workers may run several tasks at once in one process
    key = (task.architecture, task.n_classes, str(device), channels_last, threading.get_ident())
    if key not in _SKELETONS:
        model = build_model(task.architecture, task.n_classes).to(device).eval()
        _SKELETONS[key] = model.to(memory_format=torch.channels_last) if channels_last else model
    model = _SKELETONS[key]
    fit_weights(model, load_state_dict(task.model_path), task.model_path, task.architecture)
    return model


def _autocast(device: str, precision: str):
    import contextlib

    import torch

    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=str(device).split(":")[0], dtype=dtype)


def compute_logits(task: OutputTask, device: str | None = None, precision: str | None = None) -> np.ndarray:
    """Run the task's model on its points: float32 [n_points, n_views, n_classes].

    Batches are ``task.batch_size`` points (× n_views images per forward pass); ``precision``
    defaults to ``resolve_precision(task, device)``.
    """
    import torch

    device = device or default_device()
    precision = precision or resolve_precision(task, device)
    # A thread new to torch runs OpenMP at the machine's default width whatever get_num_threads()
    # reports: pinned here, worker threads (ours, Dask's) neither oversubscribe the cores nor sum
    # in another order than the main thread (the logits would differ in the last bit).
    torch.set_num_threads(torch.get_num_threads())
    x = task_inputs(task, device)
    images = x.dim() == 4
    model = _load_weights(task, device, channels_last=images)  # channels-last pays on CPU and GPU alike
    batch = min(task.batch_size, CPU_IMAGE_BATCH) if images and not str(device).startswith("cuda") else task.batch_size
    views = parse_views(task.views)
    n_views = count_views(views)
    out = torch.empty((len(x), n_views, task.n_classes), dtype=torch.float32, device=device)
    with torch.inference_mode(), _autocast(device, precision):
        for start in range(0, len(x), batch):
            xb = apply_views(x[start : start + batch], views)  # [V, b, ...]
            b = xb.shape[1]
            xb = xb.flatten(0, 1)
            if images:
                xb = xb.contiguous(memory_format=torch.channels_last)
            out[start : start + b] = model(xb).float().view(n_views, b, -1).transpose(0, 1)
    return out.cpu().numpy()


def precision_agreement(ref: np.ndarray, test: np.ndarray, labels: np.ndarray, members: np.ndarray) -> dict[str, float]:
    """How much reduced-precision logits change what the attacks see, against fp32 ``ref``.

    ``ref``/``test`` float32 [n_points, n_views, C]; ``members`` bool [n_points]. Scores are the
    view-averaged LiRA logit-scaled confidence φ = log p_y − log(1 − p_y) (Carlini et al. 2022).
    Returns the largest logit and score differences and the largest change of any MICO scorer
    figure (TPR at FPR < x, AUC, MIA, accuracy) between the two score sets.
    """
    from toolkit.metrics import scorer_metrics
    from toolkit.signals import oriented

    s_ref = oriented("phi", np.asarray(ref, np.float64), labels).mean(-1)
    s_test = oriented("phi", np.asarray(test, np.float64), labels).mean(-1)
    m_ref = scorer_metrics(members.astype(np.int64), s_ref)
    m_test = scorer_metrics(members.astype(np.int64), s_test)
    return {
        "max_logit_diff": float(np.abs(np.asarray(ref, np.float64) - test).max()),
        "max_score_diff": float(np.abs(s_ref - s_test).max()),
        "max_metric_diff": max(abs(m_ref[k] - m_test[k]) for k in m_ref),
    }
