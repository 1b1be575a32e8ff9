"""The upload ledger: one JSON line per attempt, each with the cooldown it started.

``submissions/ledger.jsonl`` records every upload attempt (``toolkit.tml.upload``). An attempt that
may have reached the scoring server records the cooldown it started, so the next upload's wait comes
from the ledger alone, without the track that wrote it::

    "cooldown": {"after": "success", "seconds": 3600, "until": 1780000000.0, "until_time": "…"}

``after`` is ``success`` (the server scored it: the track's ``[upload] cooldown_s``), ``failure``
(refused, or failed after it may have arrived: ``failure_cooldown_s``) or ``retry_after`` (an HTTP
429 whose ``Retry-After`` asked for longer). An entry written before the record existed counts the
2025 edition's hour (``COOLDOWN_S``) from its ``epoch``.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

__all__ = [
    "COOLDOWN_S",
    "COUNTS",
    "default_ledger",
    "read_ledger",
    "append_entry",
    "cooldown_started",
    "current_cooldown",
    "cooldown_left",
    "cooldown_message",
    "span",
]

COOLDOWN_S = 3600  # the 2025 edition's, for entries that record no cooldown of their own
COUNTS = ("ok", "http_error", "timeout", "bad_reply")  # outcomes that may have reached the server


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


def append_entry(ledger: Path, entry: dict) -> None:
    """Append one attempt as a JSON line, flushed to disk before the caller goes on."""
    ledger = Path(ledger)
    ledger.parent.mkdir(parents=True, exist_ok=True)
    with open(ledger, "a") as f:  # one short line per attempt: append is enough, no rewrite
        f.write(json.dumps(entry, default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())


def cooldown_started(
    outcome: str, epoch: float, cooldown_s: float, failure_cooldown_s: float, retry_after_s: float | None = None
) -> dict | None:
    """The cooldown an attempt starts: ``cooldown_s`` after a scored upload (outcome ``ok``), ``failure_cooldown_s``
    after one the server refused or that failed after it may have arrived, at least what a ``Retry-After`` asked;
    None for an attempt that never reached the server (unreachable, redirected, refused locally)."""
    if outcome not in COUNTS:
        return None
    after, seconds = ("success", cooldown_s) if outcome == "ok" else ("failure", failure_cooldown_s)
    if retry_after_s is not None and retry_after_s > seconds:
        after, seconds = "retry_after", retry_after_s
    until = epoch + seconds
    when = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(until))
    return {"after": after, "seconds": seconds, "until": until, "until_time": when}


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _cooldown_of(entry: dict) -> dict | None:
    """The cooldown a counted entry started (its own record, else the 2025 hour from its epoch)."""
    if entry.get("outcome") not in COUNTS:
        return None
    record = entry.get("cooldown")
    if isinstance(record, dict) and _number(record.get("until")):
        return record
    if _number(entry.get("epoch")):
        after = "success" if entry["outcome"] == "ok" else "failure"
        return {"after": after, "seconds": COOLDOWN_S, "until": entry["epoch"] + COOLDOWN_S}
    return None


def current_cooldown(ledger: Path, track: str, now: float | None = None) -> tuple[float, dict | None]:
    """(seconds until this track may upload again, the cooldown record that says so; 0 and None when it may).

    The longest-running of the track's cooldowns decides: a later attempt with a shorter cooldown (a
    forced upload the server refused two minutes into an hour) does not cut short an earlier one.
    """
    now = time.time() if now is None else now
    records = [r for e in read_ledger(ledger) if e.get("track") == track and (r := _cooldown_of(e))]
    if not records:
        return 0.0, None
    last = max(records, key=lambda r: r["until"])
    left = last["until"] - now
    return (left, last) if left > 0 else (0.0, None)


def cooldown_left(ledger: Path, track: str, now: float | None = None) -> float:
    """Seconds until this track may upload again (0 when it may), from the ledger's entries alone."""
    return current_cooldown(ledger, track, now)[0]


def span(seconds: float) -> str:
    """3600 -> '1 hour', 7200 -> '2 hours', 120 -> '2 min', 45 -> '45 s'."""
    s = int(round(seconds))
    if s and s % 3600 == 0:
        return f"{s // 3600} hour{'s' if s > 3600 else ''}"
    return f"{s // 60} min" if s and s % 60 == 0 else f"{s} s"


def cooldown_message(wait: float, record: dict | None) -> str:
    """'one upload per hour after a scored one: wait 59 min 58 s more' (or after a failure, or a Retry-After)."""
    record = record or {}
    seconds = record.get("seconds") if _number(record.get("seconds")) else COOLDOWN_S
    why = {
        "failure": f"{span(seconds)} after a failed upload",
        "retry_after": f"the server asked for {span(seconds)} (Retry-After)",
    }.get(record.get("after"), f"one upload per {span(seconds).removeprefix('1 ')} after a scored one")
    return f"{why}: wait {int(wait // 60)} min {int(wait % 60)} s more"
