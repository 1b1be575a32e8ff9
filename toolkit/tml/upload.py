"""Upload a CSV to a scoring server in the track's protocol, keep a ledger, respect the server's cooldowns.

Each edition's server is described by its track's ``[upload]`` table (``toolkit.task_format.Upload``):

- 2025 (``resnet18``): POST to the URL given (``…/mia``), the team token in the header ``token``, the
  CSV (``ids,score``) in the multipart field ``file``; JSON such as ``{"TPR@FPR=0.05": 0.145, "AUC":
  0.655}``; one upload per hour, a failed or malformed one costing the hour too;
- 2026 (``tml26``): POST to ``<base>/submit/01-mia``, the key in ``X-API-Key``, field ``file``, an
  ``id,score`` CSV; JSON with a ``submission_id``; HTTP 413 for a file over the server's limit, HTTP
  429 within the cooldown (60 min after a scored upload, 2 min after a failed one).

Both servers have been known to crash, so:

- the CSV is checked locally before sending (a malformed upload would waste the cooldown): its size
  (``max_bytes``), its header (``<id_column>,score``), its scores (finite, in [0, 1]) and its ids,
  against the task's private ids: every one once, none foreign. The ids come from the private file
  (the track's ``[files] private``) of the task folder that ``<run>.manifest.json`` (written by
  ``submit`` beside the CSV) names, with its content hash checked, or from ``--data``/``$DATA``; with
  no task to be found the upload is refused unless ``id_check=False`` (``--no-id-check``);
- the server is a stranger too: its reply is read to at most ``MAX_REPLY_BYTES`` within the timeout
  (a trickle counts as a hang), must be a JSON object, and a redirect is never followed (the key
  would travel with it), so every reply gives one line; 413 and 429 say what they mean, and a
  429's ``Retry-After`` is honoured;
- every attempt is appended to ``submissions/ledger.jsonl`` (``toolkit.tml.ledger``): time, URL,
  CSV path and SHA-256, the local estimate from the manifest beside the CSV, the id check (which
  task, or skipped), the reply or the error, and the cooldown it started; a CSV refused locally is
  recorded too (outcome ``refused_locally``, it costs nothing). The key is never written anywhere
  (it is read from ``$MIA_TOKEN`` and only put in the protocol's header), and the bytes sent are
  the bytes checked;
- an attempt the server scored starts ``cooldown_s``; one it refused, or that failed after it may
  have arrived (errored, answered garbage, hung), starts ``failure_cooldown_s`` (at least what a
  ``Retry-After`` asked); a refused connection did not reach it and starts none, nor does a redirect
  (the server named another address instead of scoring). ``force=True`` overrides.

Standard library only (urllib with a hand-built multipart body): no new dependency.
"""

from __future__ import annotations

import json
import os
import time
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from toolkit.errors import ConfigError, SubmissionError, ToolkitError, one_line
from toolkit.io import sha256_bytes, sha256_file
from toolkit.task_format import Upload
from toolkit.tml.ledger import (
    COOLDOWN_S,
    COUNTS,
    append_entry,
    cooldown_left,
    cooldown_message,
    cooldown_started,
    current_cooldown,
    default_ledger,
    read_ledger,
    span,
)
from toolkit.tml.transport import MAX_REPLY_BYTES, multipart_body, parse_reply, post
from toolkit.tml.transport import printable as _printable

if TYPE_CHECKING:
    from toolkit.data.tml import TaskLayout

__all__ = [
    "CooldownError",
    "UploadError",
    "IdCheckError",
    "COOLDOWN_S",
    "COUNTS",
    "MAX_REPLY_BYTES",
    "default_ledger",
    "read_ledger",
    "cooldown_left",
    "multipart_body",
    "parse_reply",
    "server_url",
    "shown_reply",
    "task_private_ids",
    "upload",
]

MAX_MANIFEST_BYTES = 16 << 20  # a manifest is a few KB of figures
MAX_SHOWN = 2000  # characters of the reply shown on the terminal
TOKEN_ENV = "MIA_TOKEN"
URL_ENV = "MIA_SERVER_URL"
DATA_ENV = "DATA"
HINTS = {
    "unreachable": "the server may be down; the upload did not count, retry later",
    "redirect": "not followed, so the key went nowhere else; the upload was not scored and did not count: check --url",
    "timeout": "the server may have hung; it may have counted the upload: the next one waits {wait}",
    "http_error": "the server refused it; the next upload waits {wait}",
    "bad_reply": "the server answered something unexpected; the next upload waits {wait}",
}


class CooldownError(ToolkitError):
    """The track's last counted upload is still within the cooldown it started."""


class UploadError(ToolkitError):
    """The server could not be reached, hung, redirected, or answered with an error or garbage."""


class IdCheckError(ToolkitError):
    """The CSV's ids cannot be checked against the task's private ids (no task, or not the CSV's task)."""


def _manifest(csv_path: Path) -> dict:
    """The manifest ``submit`` wrote beside the CSV (``<run>.manifest.json``, else ``manifest.json``), or {}."""
    for man in (csv_path.with_suffix(".manifest.json"), csv_path.parent / "manifest.json"):
        if man.is_file():
            try:
                with open(man, "rb") as f:
                    data = json.loads(f.read(MAX_MANIFEST_BYTES).decode("utf-8", "replace"))
            except (ValueError, RecursionError, OSError):
                return {}
            return data if isinstance(data, dict) else {}
    return {}


# --- the ids the task expects ------------------------------------------------------------------------------


def task_private_ids(
    csv_path: Path, data_dir: Path | None = None, layout: TaskLayout | None = None
) -> tuple[np.ndarray, dict]:
    """(the private ids of the task the CSV was made for, what the ledger records of where they came from).

    ``layout`` (a ``TaskLayout``, from ``layout_of(track)``; default the 2025 edition's) names the private
    file (``[files] private``: ``priv_out.pt`` in 2025, ``priv.pt`` in 2026) and how it is read. The task
    folder is ``data_dir`` (``--data``), else the one the CSV's manifest names, else ``$DATA``. Where the
    manifest records the private file's SHA-256, the folder's file must have it: a CSV made for another
    task (or a changed private file) is refused. No folder found: ``IdCheckError``.
    """
    from toolkit.data.tml import DEFAULT, read_membership_dataset

    layout = layout or DEFAULT
    name, public = layout.files.private, layout.files.public
    csv_path = Path(csv_path)
    man = _manifest(csv_path)
    inputs = man.get("inputs") if isinstance(man.get("inputs"), dict) else {}
    want = inputs.get(name) if isinstance(inputs.get(name), str) else None
    candidates = [
        ("--data", data_dir),
        ("manifest", man.get("task_dir") if isinstance(man.get("task_dir"), str) else None),
        (f"${DATA_ENV}", os.environ.get(DATA_ENV) or None),
    ]
    tried = [f"{how} {where}" for how, where in candidates if where]
    for how, where in candidates:
        if not where or not (Path(where) / name).is_file():
            if how == "--data" and where:  # an explicit folder must hold the task
                raise IdCheckError(f"--data {where} holds no {name}", f"pass the task folder ({public}, {name})")
            continue
        priv = Path(where) / name
        digest = sha256_file(priv)
        if want and digest != want:
            raise IdCheckError(
                f"{priv} is not the {name} {csv_path.name} was made from (SHA-256 {digest[:12]}…, "
                f"its manifest says {want[:12]}…)",
                "upload the CSV made for this task, or point --data at the task it was made for",
            )
        ids = read_membership_dataset(priv, layout).ids
        found = {"source": how, "task_dir": str(Path(where).resolve()), "file": name, "sha256": digest}
        return ids, {**found, "ids": len(ids)}
    raise IdCheckError(
        f"cannot check {csv_path.name}'s ids: no task folder with {name} "
        f"({', '.join(tried) or f'no manifest beside the CSV, no --data, no ${DATA_ENV}'})",
        "pass --data <task folder>, or --no-id-check to send it unchecked (a missing or foreign id is a failed upload)",
    )


def _check_csv(csv_path: Path, entry: dict, expected_ids, data_dir, id_check: bool, protocol: Upload, layout):
    """Check the CSV's size, then read and check it (ids against the task's unless ``id_check`` is off);
    ``entry["id_check"]`` records against what, before the CSV is judged."""
    from toolkit.tml.package import read_submission_csv

    size = csv_path.stat().st_size
    if protocol.max_bytes and size > protocol.max_bytes:  # the server would answer 413 and start a cooldown
        raise SubmissionError(
            [f"{csv_path.name} is {size:,} bytes, over the server's limit of {protocol.max_bytes:,}"],
            "the track's [upload] max_bytes; nothing was sent",
        )
    if expected_ids is not None:
        entry["id_check"] = {"source": "caller", "ids": len(expected_ids)}
    elif id_check:
        expected_ids, entry["id_check"] = task_private_ids(csv_path, data_dir, layout)
    else:
        entry["id_check"] = {"skipped": "--no-id-check"}
    read_submission_csv(csv_path, expected_ids, id_column=protocol.id_column)  # a malformed upload costs a cooldown


def server_url(base: str, protocol: Upload) -> str:
    """``base`` with ``protocol.path`` appended to its path, one '/' between them ("" = ``base`` as given)."""
    if not protocol.path:
        return base
    parts = urllib.parse.urlsplit(base)
    return urllib.parse.urlunsplit(parts._replace(path=parts.path.rstrip("/") + protocol.path))


def shown_reply(reply: dict, keys: tuple[str, ...] = ()) -> str:
    """The reply as one line of JSON (escaped, so printable): only ``keys`` (the track's ``reply_keys``) where
    it has any of them, else every field; cut to ``MAX_SHOWN`` characters."""
    picked = {k: reply[k] for k in keys if k in reply} or reply
    try:
        text = json.dumps(picked, default=str)
    except (ValueError, RecursionError):
        text = f"(a reply of {len(picked)} fields that cannot be shown)"
    return one_line(text, MAX_SHOWN)


def upload(
    csv_path: Path,
    *,
    track,
    url: str | None = None,
    timeout: float = 60.0,
    force: bool = False,
    ledger: Path | None = None,
    expected_ids=None,
    data_dir: Path | None = None,
    id_check: bool = True,
    now: float | None = None,
) -> dict:
    """Check the CSV (size, header, scores, ids against the task's: ``task_private_ids``), enforce the track's
    cooldown, POST it in the track's ``[upload]`` protocol to ``url`` + its ``path``, record the attempt and the
    cooldown it starts; return the server's JSON reply.

    ``track`` is a ``tracks.Track`` (its ``[upload]`` and ``[files]`` say how to send and which private file
    to check against) or a bare name, which keeps the 2025 edition's protocol and files.
    """
    from toolkit.data.tml import layout_of

    protocol = Upload() if isinstance(track, str) else (track.upload or Upload())
    layout = None if isinstance(track, str) else layout_of(track)
    track = track if isinstance(track, str) else track.name
    csv_path = Path(csv_path)
    ledger = Path(ledger or default_ledger())
    if not csv_path.is_file():
        raise ConfigError(f"no such CSV: {csv_path}")
    token = os.environ.get(TOKEN_ENV)
    if not token:
        raise ConfigError(f"no team token or key: set ${TOKEN_ENV}", "export MIA_TOKEN=… (it is never written to disk)")
    if not token.isprintable() or token != token.strip():  # http.client would refuse it with the key in its message
        raise ConfigError(f"${TOKEN_ENV} holds a line break, a control character or edge spaces", "set it again")
    base = url or os.environ.get(URL_ENV)
    if not base:
        raise ConfigError(f"no server URL: pass --url or set ${URL_ENV}")
    parts = urllib.parse.urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"server URL must be http(s)://host/…, got {_printable(base, 120)!r}")
    url = server_url(base, protocol)
    started = time.time() if now is None else now
    entry = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "epoch": started,
        "track": track,
        "url": url,
        "csv": str(csv_path.resolve()),
        "csv_sha256": sha256_file(csv_path),
        "estimate": _local_estimate(csv_path),
    }
    try:
        _check_csv(csv_path, entry, expected_ids, data_dir, id_check, protocol, layout)
    except ToolkitError as exc:  # a bad CSV, no task, or a task file that cannot be read: nothing was sent
        append_entry(ledger, {**entry, "outcome": "refused_locally", "error": str(exc)})
        raise
    wait, record = current_cooldown(ledger, track, now)
    if wait > 0 and not force:
        raise CooldownError(cooldown_message(wait, record), f"see {ledger}; --force uploads anyway")
    data = csv_path.read_bytes()  # what is sent is what was checked: a file rewritten meanwhile is not sent
    if sha256_bytes(data) != entry["csv_sha256"]:
        append_entry(ledger, {**entry, "outcome": "refused_locally", "error": "changed while it was being checked"})
        raise UploadError(f"{csv_path} changed while it was being checked; nothing was sent", "upload it again")
    outcome, reply, facts = post(url, csv_path.name, data, token, timeout, protocol)
    cooldown = cooldown_started(
        outcome, started, protocol.cooldown_s, protocol.failure_cooldown_s, facts.get("retry_after_s")
    )
    result = {"outcome": outcome, "reply" if outcome == "ok" else "error": reply, **facts}
    append_entry(ledger, {**entry, **result, **({"cooldown": cooldown} if cooldown else {})})
    if outcome == "ok":
        return reply
    raise UploadError(
        f"upload failed: {reply}", HINTS[outcome].format(wait=span(cooldown["seconds"]) if cooldown else "")
    )


def _local_estimate(csv_path: Path) -> dict | None:
    estimate = _manifest(csv_path).get("estimate")
    return estimate if isinstance(estimate, dict) else None
