"""The HTTP exchange with a scoring server, which is a stranger: every answer becomes one line.

One POST of a multipart form (RFC 7578) with the key in the protocol's header. The reply is read to
at most ``MAX_REPLY_BYTES`` within the timeout in all (a server that trickles bytes, even its headers,
is a hang), must be a JSON object, and a redirect is never followed (urllib would resend the key to
wherever it points). HTTP 413 (file too large) and 429 (too soon; its ``Retry-After`` read as seconds
or an HTTP date) say what they mean; any other status gives its code and the server's text, made
printable. Standard library only.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

from toolkit.errors import one_line
from toolkit.task_format import Upload
from toolkit.tml.ledger import span

__all__ = [
    "MAX_REPLY_BYTES",
    "MAX_RETRY_AFTER_S",
    "multipart_body",
    "parse_reply",
    "post",
    "printable",
    "retry_after_seconds",
]

MAX_REPLY_BYTES = 1 << 20  # the scorer answers a few numbers; a megabyte is a broken or hostile server
MAX_RETRY_AFTER_S = 86400  # a Retry-After beyond a day is a broken or hostile server (--force overrides anyway)


def multipart_body(field: str, filename: str, data: bytes, content_type: str = "text/csv") -> tuple[bytes, str]:
    """(body, Content-Type header) of a multipart/form-data request with one file field (RFC 7578)."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def printable(text: str, limit: int) -> str:
    """A stranger's text for one terminal line: control characters (escape codes, breaks) become '?'."""
    return one_line("".join(c if c.isprintable() else "?" for c in text[: limit + 1]).strip(), limit)


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
        return "bad_reply", f"reply is not JSON: {printable(text, 300) or '(empty)'}"
    if not isinstance(reply, dict):
        return "bad_reply", f"reply is JSON but not an object: {printable(text, 300)}"
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
    return printable(host, 80) or "?"


def retry_after_seconds(value, now: float | None = None) -> float | None:
    """A ``Retry-After`` header's wait in seconds (delay-seconds or an HTTP date, RFC 9110 §10.2.3), clipped
    to [0, ``MAX_RETRY_AFTER_S``]; None where there is none or it is neither."""
    text = str(value).strip() if value is not None else ""
    if re.fullmatch(r"[0-9]{1,12}", text):
        seconds = float(text)
    else:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:  # not an HTTP date (those are GMT)
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), float(MAX_RETRY_AFTER_S))


def _refusal(code: int, headers, detail: str, size: int, max_bytes: int) -> tuple[str, str, dict]:
    """An HTTP error status as one line and what the ledger keeps of it (the status, a 429's Retry-After)."""
    detail = printable(detail, 300)
    tail = f": {detail}" if detail else ""
    if code == 413:
        limit = f"is below the track's max_bytes, {max_bytes:,}" if max_bytes else "is not in the track's [upload]"
        message = f"the server refused the file as too large ({size:,} bytes; its limit {limit}){tail}"
        return "http_error", message, {"http_status": 413}
    if code == 429:
        raw = headers.get("Retry-After") if headers is not None else None
        wait = retry_after_seconds(raw)
        said = "no Retry-After" if raw is None else f"Retry-After: {printable(str(raw), 40)}"
        said += f", {span(wait)}" if wait is not None else ""
        message = f"the server says to wait (HTTP 429, {said}){tail}"
        return "http_error", message, {"http_status": 429, "retry_after_s": wait}
    return "http_error", f"HTTP {code}{tail}", {"http_status": code}


def _exchange(req, timeout: float, size: int = 0, max_bytes: int = 0) -> tuple[str, object, dict]:
    """(outcome, reply or one-line message, facts for the ledger such as the HTTP status)."""
    deadline = time.monotonic() + timeout
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return (*parse_reply(_read(resp, deadline)), {})
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:
            return "redirect", f"HTTP {exc.code}: the server redirects to {_location_host(exc.headers)}", {}
        try:
            detail = _read(exc, deadline)[:500].decode("utf-8", "replace")
        except (OSError, AttributeError, http.client.HTTPException):  # TimeoutError is an OSError
            detail = ""
        detail = detail if detail.strip() else str(exc.reason)
        return _refusal(exc.code, exc.headers, detail, size, max_bytes)
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (socket.timeout, TimeoutError)):
            return "timeout", f"no answer within {timeout:g} s", {}
        return "unreachable", f"cannot connect ({printable(str(exc.reason), 200)})", {}
    except TimeoutError:
        return "timeout", f"no answer within {timeout:g} s", {}
    except ConnectionRefusedError as exc:
        return "unreachable", f"cannot connect ({exc})", {}
    except (OSError, http.client.HTTPException) as exc:  # a bad status line, a reset mid-reply
        return "bad_reply", f"reply is not HTTP ({printable(f'{type(exc).__name__}: {exc}', 200)})", {}


def post(url: str, name: str, data: bytes, token: str, timeout: float, protocol: Upload) -> tuple[str, object, dict]:
    """(outcome, reply or error message, facts) within ``timeout`` seconds in all; never raises for network
    trouble. The key goes in ``protocol.key_header`` only, the CSV in the multipart field ``protocol.field``."""
    body, ctype = multipart_body(protocol.field, name, data)
    headers = {protocol.key_header: token, "Content-Type": ctype, "Content-Length": str(len(body))}
    req = urllib.request.Request(url, data=body, method="POST", headers=headers)
    result: list = []

    def run():
        try:
            result.append(_exchange(req, timeout, len(data), protocol.max_bytes))
        except BaseException as exc:  # raised again below, in the caller's thread
            result.append(exc)

    # the socket timeout bounds each read, not a server that sends its headers a byte at a time: the
    # exchange runs on a daemon thread and is abandoned (a hang) when the whole of ``timeout`` is spent
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    if not result:
        return "timeout", f"no answer within {timeout:g} s", {}
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]
