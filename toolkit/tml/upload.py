"""Upload a CSV to a scoring server, keep a ledger, respect the one-upload-per-hour rule.

The ResNet18 task's server takes an HTTP POST with the CSV in the multipart form field ``file``
and the team token in the header ``token``; it answers JSON such as
``{"TPR@FPR=0.05": 0.145, "AUC": 0.655}`` or an error message. It allows one upload per hour
(a failed or malformed one also costs the hour) and has been known to crash, so:

- the CSV is checked locally before sending (a malformed upload would waste the hour);
- every attempt is appended to ``submissions/ledger.jsonl``: time, CSV path and SHA-256, the local
  estimate from the manifest beside the CSV, and the reply or the error. The token is never
  written anywhere (it is read from ``$MIA_TOKEN`` and only put in the request header);
- attempts that may have reached the server (answered, errored, or hung) start a one-hour
  cooldown; a refused connection did not reach it and does not. ``force=True`` overrides.

Standard library only (urllib with a hand-built multipart body): no new dependency.
"""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from toolkit.errors import ConfigError, ToolkitError
from toolkit.io import sha256_file

__all__ = [
    "CooldownError",
    "UploadError",
    "COOLDOWN_S",
    "default_ledger",
    "read_ledger",
    "cooldown_left",
    "multipart_body",
    "upload",
]

COOLDOWN_S = 3600
TOKEN_ENV = "MIA_TOKEN"
URL_ENV = "MIA_SERVER_URL"
COUNTS = ("ok", "http_error", "timeout", "bad_reply")  # outcomes that may have cost the hour


class CooldownError(ToolkitError):
    """The last counted upload for this track was less than an hour ago."""


class UploadError(ToolkitError):
    """The server could not be reached, hung, or answered with an error."""


def default_ledger() -> Path:
    """``$MIA_SUBMISSIONS_DIR/ledger.jsonl`` (default ``submissions/ledger.jsonl``)."""
    return Path(os.environ.get("MIA_SUBMISSIONS_DIR", "submissions")) / "ledger.jsonl"


def read_ledger(path: Path) -> list[dict]:
    """Every recorded attempt (a corrupt line, e.g. from a killed write, is skipped)."""
    path = Path(path)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def cooldown_left(ledger: Path, track: str, now: float | None = None) -> float:
    """Seconds until this track may upload again (0 when it may)."""
    now = time.time() if now is None else now
    times = [e.get("epoch", 0.0) for e in read_ledger(ledger) if e.get("track") == track and e.get("outcome") in COUNTS]
    return max(0.0, max(times) + COOLDOWN_S - now) if times else 0.0


def multipart_body(field: str, filename: str, data: bytes, content_type: str = "text/csv") -> tuple[bytes, str]:
    """(body, Content-Type header) of a multipart/form-data request with one file field (RFC 7578)."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _local_estimate(csv_path: Path) -> dict | None:
    for man in (csv_path.with_suffix(".manifest.json"), csv_path.parent / "manifest.json"):
        if man.is_file():
            try:
                return json.loads(man.read_text()).get("estimate")
            except (json.JSONDecodeError, AttributeError):
                return None
    return None


def _append(ledger: Path, entry: dict) -> None:
    ledger.parent.mkdir(parents=True, exist_ok=True)
    with open(ledger, "a") as f:  # one short line per attempt: append is enough, no rewrite
        f.write(json.dumps(entry, default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _post(url: str, csv_path: Path, token: str, timeout: float) -> tuple[str, object]:
    """(outcome, reply or error message); never raises for network trouble."""
    body, ctype = multipart_body("file", csv_path.name, csv_path.read_bytes())
    req = urllib.request.Request(
        url, data=body, method="POST", headers={"token": token, "Content-Type": ctype, "Content-Length": str(len(body))}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            text = resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace").strip()[:500]
        return "http_error", f"HTTP {exc.code}: {detail or exc.reason}"
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (socket.timeout, TimeoutError)):
            return "timeout", f"no answer within {timeout:g} s"
        return "unreachable", f"cannot connect ({exc.reason})"
    except TimeoutError:
        return "timeout", f"no answer within {timeout:g} s"
    except ConnectionError as exc:
        return "unreachable", f"connection failed ({exc})"
    try:
        return "ok", json.loads(text)
    except json.JSONDecodeError:
        return "bad_reply", f"reply is not JSON: {text.strip()[:300]}"


def upload(
    csv_path: Path,
    *,
    track: str,
    url: str | None = None,
    timeout: float = 60.0,
    force: bool = False,
    ledger: Path | None = None,
    expected_ids=None,
    now: float | None = None,
) -> dict:
    """Check the CSV, enforce the cooldown, POST it, record the attempt; return the server's JSON reply."""
    from toolkit.tml.submission import read_submission_csv

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
    read_submission_csv(csv_path, expected_ids)  # a malformed upload would cost the hour
    wait = cooldown_left(ledger, track, now)
    if wait > 0 and not force:
        raise CooldownError(
            f"one upload per hour: wait {int(wait // 60)} min {int(wait % 60)} s more",
            f"see {ledger}; --force uploads anyway",
        )
    started = time.time() if now is None else now
    outcome, reply = _post(url, csv_path, token, timeout)
    _append(
        ledger,
        {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "epoch": started,
            "track": track,
            "url": url,
            "csv": str(csv_path.resolve()),
            "csv_sha256": sha256_file(csv_path),
            "estimate": _local_estimate(csv_path),
            "outcome": outcome,
            "reply" if outcome == "ok" else "error": reply,
        },
    )
    if outcome == "ok":
        return reply
    hints = {
        "unreachable": "the server may be down; the upload did not count, retry later",
        "timeout": "the server may have hung; it may have counted the upload (cooldown started)",
        "http_error": "the server refused it; the hour is spent",
        "bad_reply": "the server answered something unexpected; the hour is probably spent",
    }
    raise UploadError(f"upload failed: {reply}", hints[outcome])
