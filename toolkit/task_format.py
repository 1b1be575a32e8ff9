"""A public/private task's facts, as data: its ``[files]`` and ``[upload]`` tables (``kind = "tml"``).

The ResNet18 public/private task runs every year with new files; each edition is a ``track.toml``
over the same code. ``[files]`` says what the organisers hand out and how their transform prepares
an image for the target (resize, then normalise); ``[upload]`` says what the scoring server takes
(the CSV's id column, the path, the key header, the cooldowns, the size limit, the reply's fields).
The defaults are the 2025 edition's, so an older track file reads as it did.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from toolkit.errors import ConfigError
from toolkit.settings import reject_unknown, shown, table

__all__ = ["TaskFiles", "Upload", "task_files", "upload_protocol"]


@dataclass(frozen=True)
class TaskFiles:
    """The organisers' files (``[files]``): names, image size, and the transform the target was trained behind."""

    model: str = ""  # the target's state dict; "" = the one *.pt in the folder that is not a data file
    public: str = "pub.pt"
    private: str = "priv_out.pt"
    image_size: int = 32  # the pickled images are float tensors 3×image_size×image_size in [0, 1]
    input_size: int = 32  # the organisers' transform resizes to this (bilinear), then normalises
    mean: tuple[float, float, float] = (0.2980, 0.2962, 0.2987)
    std: tuple[float, float, float] = (0.2886, 0.2875, 0.2889)

    @property
    def data_files(self) -> tuple[str, str]:
        return (self.public, self.private)

    def transform_label(self) -> str:
        """What the transform does, as a cache fingerprint's suffix (a changed transform is other data)."""
        mean = ",".join(f"{v:g}" for v in self.mean)
        std = ",".join(f"{v:g}" for v in self.std)
        return f"{self.image_size}->{self.input_size};{mean};{std}"


@dataclass(frozen=True)
class Upload:
    """The scoring server's protocol (``[upload]``): the CSV it reads, where and how it is posted."""

    id_column: str = "ids"  # the CSV's header is "<id_column>,score"
    path: str = ""  # appended to the server URL's path ("/submit/01-mia"); "" = the URL as given
    key_header: str = "token"  # the header that carries $MIA_TOKEN
    field: str = "file"  # the multipart form field holding the CSV
    cooldown_s: int = 3600  # after an upload the server scored (or may have)
    failure_cooldown_s: int = 3600  # after one it refused
    max_bytes: int = 0  # the server's size limit (refused locally above it); 0 = none known
    reply_keys: tuple[str, ...] = ()  # the reply's fields worth showing; empty = all


_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


def _file_name(value: Any, key: str, where: str) -> str:
    if not isinstance(value, str) or "/" in value or "\\" in value or value in (".", ".."):
        raise ConfigError(f"{where}: {key} must be a file name in the task folder (no '/'), got {shown(value)}")
    return value


def _triple(value: Any, key: str, where: str, positive: bool) -> tuple[float, float, float]:
    ok = (
        isinstance(value, (list, tuple))
        and len(value) == 3
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    )
    if not ok or (positive and min(value) <= 0):
        what = "three positive numbers" if positive else "three finite numbers"
        raise ConfigError(f"{where}: {key} must be {what} (one per colour channel), got {shown(value)}")
    return tuple(float(v) for v in value)


def _checked(data: Mapping[str, Any], cls, where: str) -> dict[str, Any]:
    reject_unknown(table(data, where), cls, where)
    return dict(data)


def _positive_int(value: Any, key: str, where: str, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{where}: {key} must be an integer ≥ {minimum}, got {shown(value)}")
    return value


def task_files(data: Mapping[str, Any], where: str = "[files]") -> TaskFiles:
    """A ``[files]`` table as ``TaskFiles``: every value checked, the first problem in one line."""
    values = _checked(data, TaskFiles, where)
    for key in ("model", "public", "private"):
        if key in values and not (key == "model" and values[key] == ""):
            values[key] = _file_name(values[key], key, where)
    for key in ("image_size", "input_size"):
        if key in values:
            values[key] = _positive_int(values[key], key, where, 8)
    for key in ("mean", "std"):
        if key in values:
            values[key] = _triple(values[key], key, where, positive=key == "std")
    files = TaskFiles(**values)
    if files.public == files.private or files.model in files.data_files:
        raise ConfigError(f"{where}: model, public and private must be three different files")
    return files


def upload_protocol(data: Mapping[str, Any], where: str = "[upload]") -> Upload:
    """An ``[upload]`` table as ``Upload``: every value checked, the first problem in one line."""
    values = _checked(data, Upload, where)
    for key in ("id_column", "key_header", "field"):
        if key in values and (not isinstance(values[key], str) or not values[key] or set(values[key]) - _NAME_CHARS):
            raise ConfigError(
                f"{where}: {key} must be a non-empty name (letters, digits, _-.), got {shown(values[key])}"
            )
    if "path" in values and (not isinstance(values["path"], str) or (values["path"] and values["path"][0] != "/")):
        raise ConfigError(f"{where}: path must start with '/' (or be empty), got {shown(values['path'])}")
    for key, minimum in (("cooldown_s", 0), ("failure_cooldown_s", 0), ("max_bytes", 0)):
        if key in values:
            values[key] = _positive_int(values[key], key, where, minimum)
    if "reply_keys" in values:
        keys = values["reply_keys"]
        if not isinstance(keys, (list, tuple)) or not all(isinstance(k, str) and k for k in keys):
            raise ConfigError(f"{where}: reply_keys must be a list of names, got {shown(keys)}")
        values["reply_keys"] = tuple(keys)
    return Upload(**values)
