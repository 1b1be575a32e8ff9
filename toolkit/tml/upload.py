"""Upload a CSV to a scoring server, keep a ledger, respect the one-upload-per-hour rule.

The ResNet18 task's server takes an HTTP POST with the CSV in the multipart form field ``file``
and the team token in the header ``token``; it answers JSON such as
``{"TPR@FPR=0.05": 0.145, "AUC": 0.655}`` or an error message. It allows one upload per hour
(a failed or malformed one also costs the hour) and has been known to crash, so:

- the CSV is checked locally before sending (a malformed upload would waste the hour): its header,
  its scores (finite, in [0, 1]) and its ids, against the task's private ids: every one once, none
  foreign. The ids come from the task folder that ``<run>.manifest.json`` (written by ``submit``
  beside the CSV) names, with its content hash checked, or from ``--data``/``$DATA``; with no task
  to be found the upload is refused unless ``id_check=False`` (``--no-id-check``);
- the server is a stranger too: its reply is read to at most ``MAX_REPLY_BYTES`` within the timeout
  (a trickle counts as a hang), must be a JSON object, and a redirect is never followed (the token
  would travel with it), so every reply gives one line;
- every attempt is appended to ``submissions/ledger.jsonl``: time, CSV path and SHA-256, the local
  estimate from the manifest beside the CSV, the id check (which task, or skipped), and the reply or
  the error; a CSV refused locally is recorded too (outcome ``refused_locally``, it costs nothing).
  The token is never written anywhere (it is read from ``$MIA_TOKEN`` and only put in the request
  header), and the bytes sent are the bytes checked;
- attempts that may have reached the server (answered, errored, or hung) start a one-hour
  cooldown; a refused connection did not reach it and does not, nor does a redirect (the server
  named another address instead of scoring). ``force=True`` overrides.

Standard library only (urllib with a hand-built multipart body): no new dependency.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import numpy as np

from toolkit.errors import ConfigError, ToolkitError, one_line
from toolkit.io import sha256_bytes, sha256_file

__all__ = [
    "CooldownError",
    "UploadError",
    "IdCheckError",
    "COOLDOWN_S",
    "MAX_REPLY_BYTES",
    "default_ledger",
    "read_ledger",
    "cooldown_left",
    "multipart_body",
    "parse_reply",
    "task_private_ids",
    "upload",
]

COOLDOWN_S = 3600
MAX_REPLY_BYTES = 1 << 20  # the scorer answers a few numbers; a megabyte is a broken or hostile server
MAX_MANIFEST_BYTES = 16 << 20  # a manifest is a few KB of figures
TOKEN_ENV = "MIA_TOKEN"
URL_ENV = "MIA_SERVER_URL"
DATA_ENV = "DATA"
COUNTS = ("ok", "http_error", "timeout", "bad_reply")  # outcomes that may have cost the hour
HINTS = {
    "unreachable": "the server may be down; the upload did not count, retry later",
    "redirect": "not followed, so the token went nowhere else; the upload was not scored and did not count: "
    "check --url",
    "timeout": "the server may have hung; it may have counted the upload (cooldown started)",
    "http_error": "the server refused it; the hour is spent",
    "bad_reply": "the server answered something unexpected; the hour is probably spent",
}


class CooldownError(ToolkitError):
    """The last counted upload for this track was less than an hour ago."""


class UploadError(ToolkitError):
    """The server could not be reached, hung, redirected, or answered with an error or garbage."""


class IdCheckError(ToolkitError):
    """The CSV's ids cannot be checked against the task's private ids (no task, or not the CSV's task)."""


def default_ledger() -> Path:
    """``$MIA_SUBMISSIONS_DIR/ledger.jsonl`` (default ``submissions/ledger.jsonl``)."""
    return Path(os.environ.get("MIA_SUBMISSIONS_DIR", "submissions")) / "ledger.jsonl"


def read_ledger(path: Path) -> list[dict]:
    """Every recorded attempt (a corrupt line, e.g. from a killed write, is skipped)."""
    path = Path(path)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            out.append(entry)
    return out


def cooldown_left(ledger: Path, track: str, now: float | None = None) -> float:
    """Seconds until this track may upload again (0 when it may)."""
    now = time.time() if now is None else now
    times = [
        e["epoch"]
        for e in read_ledger(ledger)
        if e.get("track") == track and e.get("outcome") in COUNTS and isinstance(e.get("epoch"), (int, float))
    ]
    return max(0.0, max(times) + COOLDOWN_S - now) if times else 0.0


def multipart_body(field: str, filename: str, data: bytes, content_type: str = "text/csv") -> tuple[bytes, str]:
    """(body, Content-Type header) of a multipart/form-data request with one file field (RFC 7578)."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


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


def _printable(text: str, limit: int) -> str:
    """A stranger's text for one terminal line: control characters (escape codes, breaks) become '?'."""
    return one_line("".join(c if c.isprintable() else "?" for c in text[: limit + 1]).strip(), limit)


# --- the ids the task expects ------------------------------------------------------------------------------


def task_private_ids(csv_path: Path, data_dir: Path | None = None) -> tuple[np.ndarray, dict]:
    """(the private ids of the task the CSV was made for, what the ledger records of where they came from).

    The task folder is ``data_dir`` (``--data``), else the one the CSV's manifest names, else ``$DATA``.
    Where the manifest records ``priv_out.pt``'s SHA-256, the folder's file must have it: a CSV made
    for another task (or a changed ``priv_out.pt``) is refused. No folder found: ``IdCheckError``.
    """
    from toolkit.data.tml import read_membership_dataset

    csv_path = Path(csv_path)
    man = _manifest(csv_path)
    inputs = man.get("inputs") if isinstance(man.get("inputs"), dict) else {}
    want = inputs.get("priv_out.pt") if isinstance(inputs.get("priv_out.pt"), str) else None
    candidates = [
        ("--data", data_dir),
        ("manifest", man.get("task_dir") if isinstance(man.get("task_dir"), str) else None),
        (f"${DATA_ENV}", os.environ.get(DATA_ENV) or None),
    ]
    tried = [f"{how} {where}" for how, where in candidates if where]
    for how, where in candidates:
        if not where or not (Path(where) / "priv_out.pt").is_file():
            if how == "--data" and where:  # an explicit folder must hold the task
                raise IdCheckError(f"--data {where} holds no priv_out.pt", "pass the task folder (pub.pt, priv_out.pt)")
            continue
        priv = Path(where) / "priv_out.pt"
        digest = sha256_file(priv)
        if want and digest != want:
            raise IdCheckError(
                f"{priv} is not the priv_out.pt {csv_path.name} was made from (SHA-256 {digest[:12]}…, "
                f"its manifest says {want[:12]}…)",
                "upload the CSV made for this task, or point --data at the task it was made for",
            )
        ids = read_membership_dataset(priv).ids
        return ids, {"source": how, "task_dir": str(Path(where).resolve()), "priv_out_sha256": digest, "ids": len(ids)}
    raise IdCheckError(
        f"cannot check {csv_path.name}'s ids: no task folder with priv_out.pt "
        f"({', '.join(tried) or f'no manifest beside the CSV, no --data, no ${DATA_ENV}'})",
        "pass --data <task folder>, or --no-id-check to send it unchecked (a missing or foreign id costs the hour)",
    )


# --- the request and the reply -----------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Never follow a redirect: urllib would resend the headers, the token with them, to wherever it points.

    Returning None leaves the 3xx to the default handler, which raises it as an HTTPError; the
    Location header is not even parsed here (a malformed one made urllib raise ValueError).
    """

    def _refuse(self, req, fp, code, msg, headers):
        return None

    http_error_301 = http_error_302 = http_error_303 = http_error_307 = http_error_308 = _refuse


_OPENER = urllib.request.build_opener(_NoRedirect)


def parse_reply(raw: bytes) -> tuple[str, object]:
    """(outcome, reply or message) of a 2xx body: 'ok' with a JSON object, else 'bad_reply' with one line."""
    if len(raw) > MAX_REPLY_BYTES:
        return "bad_reply", f"reply is over {MAX_REPLY_BYTES:,} bytes (not read further)"
    text = raw.decode("utf-8", "replace")
    try:
        reply = json.loads(text)
    except (ValueError, RecursionError):  # ValueError: JSONDecodeError, or an integer of too many digits
        return "bad_reply", f"reply is not JSON: {_printable(text, 300) or '(empty)'}"
    if not isinstance(reply, dict):
        return "bad_reply", f"reply is JSON but not an object: {_printable(text, 300)}"
    return "ok", reply


def _read(resp, deadline: float) -> bytes:
    """At most MAX_REPLY_BYTES + 1 bytes of the body; TimeoutError once ``deadline`` passes (a trickle)."""
    chunks, size = [], 0
    while size <= MAX_REPLY_BYTES:
        if time.monotonic() > deadline:
            raise TimeoutError
        chunk = resp.read1(min(1 << 16, MAX_REPLY_BYTES + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _location_host(headers) -> str:
    """The host a redirect names, for the message ('?' where there is none or it is not a URL)."""
    try:
        host = urllib.parse.urlsplit(str(headers.get("Location") or "")).netloc
    except ValueError:  # e.g. 'http://[::1' (an unclosed IPv6 address)
        host = ""
    return _printable(host, 80) or "?"


def _exchange(req, timeout: float) -> tuple[str, object]:
    deadline = time.monotonic() + timeout
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return parse_reply(_read(resp, deadline))
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:
            return "redirect", f"HTTP {exc.code}: the server redirects to {_location_host(exc.headers)}"
        try:
            detail = _read(exc, deadline)[:500].decode("utf-8", "replace")
        except (OSError, AttributeError, http.client.HTTPException):  # TimeoutError is an OSError
            detail = ""
        return "http_error", f"HTTP {exc.code}: {_printable(detail, 300) or _printable(str(exc.reason), 100)}"
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (socket.timeout, TimeoutError)):
            return "timeout", f"no answer within {timeout:g} s"
        return "unreachable", f"cannot connect ({_printable(str(exc.reason), 200)})"
    except TimeoutError:
        return "timeout", f"no answer within {timeout:g} s"
    except ConnectionRefusedError as exc:
        return "unreachable", f"cannot connect ({exc})"
    except (OSError, http.client.HTTPException) as exc:  # a bad status line, a reset mid-reply
        return "bad_reply", f"reply is not HTTP ({_printable(f'{type(exc).__name__}: {exc}', 200)})"


def _post(url: str, name: str, data: bytes, token: str, timeout: float) -> tuple[str, object]:
    """(outcome, reply or error message) within ``timeout`` seconds in all; never raises for network trouble."""
    body, ctype = multipart_body("file", name, data)
    req = urllib.request.Request(
        url, data=body, method="POST", headers={"token": token, "Content-Type": ctype, "Content-Length": str(len(body))}
    )
    result: list = []

    def run():
        try:
            result.append(_exchange(req, timeout))
        except BaseException as exc:  # raised again below, in the caller's thread
            result.append(exc)

    # the socket timeout bounds each read, not a server that sends its headers a byte at a time: the
    # exchange runs on a daemon thread and is abandoned (a hang) when the whole of ``timeout`` is spent
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    if not result:
        return "timeout", f"no answer within {timeout:g} s"
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]


def _append(ledger: Path, entry: dict) -> None:
    ledger.parent.mkdir(parents=True, exist_ok=True)
    with open(ledger, "a") as f:  # one short line per attempt: append is enough, no rewrite
        f.write(json.dumps(entry, default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _check_csv(csv_path: Path, entry: dict, expected_ids, data_dir, id_check: bool) -> None:
    """Read and check the CSV (ids against the task's unless ``id_check`` is off); ``entry["id_check"]``
    records against what, before the CSV is judged."""
    from toolkit.tml.submission import read_submission_csv

    if expected_ids is not None:
        entry["id_check"] = {"source": "caller", "ids": len(expected_ids)}
    elif id_check:
        expected_ids, entry["id_check"] = task_private_ids(csv_path, data_dir)
    else:
        entry["id_check"] = {"skipped": "--no-id-check"}
    read_submission_csv(csv_path, expected_ids)  # a malformed upload would cost the hour


def upload(
    csv_path: Path,
    *,
    track: str,
    url: str | None = None,
    timeout: float = 60.0,
    force: bool = False,
    ledger: Path | None = None,
    expected_ids=None,
    data_dir: Path | None = None,
    id_check: bool = True,
    now: float | None = None,
) -> dict:
    """Check the CSV (ids against the task's: ``task_private_ids``), enforce the cooldown, POST it, record
    the attempt; return the server's JSON reply."""
    csv_path = Path(csv_path)
    ledger = Path(ledger or default_ledger())
    if not csv_path.is_file():
        raise ConfigError(f"no such CSV: {csv_path}")
    token = os.environ.get(TOKEN_ENV)
    if not token:
        raise ConfigError(f"no team token: set ${TOKEN_ENV}", "export MIA_TOKEN=… (it is never written to disk)")
    url = url or os.environ.get(URL_ENV)
    if not url:
        raise ConfigError(f"no server URL: pass --url or set ${URL_ENV}")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"server URL must be http(s)://host/…, got {_printable(url, 120)!r}")
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
        _check_csv(csv_path, entry, expected_ids, data_dir, id_check)
    except ToolkitError as exc:  # a bad CSV, no task, or a task file that cannot be read: nothing was sent
        _append(ledger, {**entry, "outcome": "refused_locally", "error": str(exc)})
        raise
    wait = cooldown_left(ledger, track, now)
    if wait > 0 and not force:
        raise CooldownError(
            f"one upload per hour: wait {int(wait // 60)} min {int(wait % 60)} s more",
            f"see {ledger}; --force uploads anyway",
        )
    data = csv_path.read_bytes()  # what is sent is what was checked: a file rewritten meanwhile is not sent
    if sha256_bytes(data) != entry["csv_sha256"]:
        _append(ledger, {**entry, "outcome": "refused_locally", "error": "changed while it was being checked"})
        raise UploadError(f"{csv_path} changed while it was being checked; nothing was sent", "upload it again")
    outcome, reply = _post(url, csv_path.name, data, token, timeout)
    _append(ledger, {**entry, "outcome": outcome, "reply" if outcome == "ok" else "error": reply})
    if outcome == "ok":
        return reply
    raise UploadError(f"upload failed: {reply}", HINTS[outcome])


def _local_estimate(csv_path: Path) -> dict | None:
    estimate = _manifest(csv_path).get("estimate")
    return estimate if isinstance(estimate, dict) else None
