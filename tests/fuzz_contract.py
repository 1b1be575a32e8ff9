"""The contract every reader of outside data keeps, as test helpers (not tests).

A reader either returns what its format says, or raises a ``ToolkitError`` whose message is one
line naming the file and the rule. Anything else (another exception, a multi-line message, code
run from a pickle) breaks the contract.
"""

from __future__ import annotations

import builtins
import io
import pickle
import struct
from pathlib import Path

from toolkit.errors import ToolkitError


def outcome(fn, *args, names: tuple[str, ...] = (), **kwargs):
    """Run a reader: its result and None, or None and the ``ToolkitError`` it raised, checked.

    ``names``: strings of which at least one must appear in the message (the file's path or name).
    Any other exception propagates, failing the test with its traceback.
    """
    try:
        return fn(*args, **kwargs), None
    except ToolkitError as exc:
        message = str(exc)
        assert "\n" not in message and len(message.splitlines()) <= 1, f"multi-line message: {message!r}"
        assert message.strip(), "empty message"
        if names:
            assert any(n in message for n in names), f"message names none of {names}: {message!r}"
        return None, exc


class MarkerPayload:
    """Unpickling this would create ``marker`` (builtins.open in write mode): it must never happen."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.open, (self.marker, "w"))


def marker_pickle(marker: Path, protocol: int = 2) -> bytes:
    """A plain pickle whose loading would create ``marker``."""
    return pickle.dumps({"data": MarkerPayload(marker)}, protocol=protocol)


def mutate(data: bytes, ops: list[tuple[int, int, int]]) -> bytes:
    """Apply (kind, position, value) edits: 0 flip a byte, 1 delete one, 2 insert one, 3 truncate."""
    out = bytearray(data)
    for kind, pos, value in ops:
        if not out:
            break
        pos %= len(out)
        if kind == 0:
            out[pos] ^= (value % 255) + 1
        elif kind == 1:
            del out[pos]
        elif kind == 2:
            out.insert(pos, value % 256)
        else:
            del out[pos:]
    return bytes(out)


def stored_zip(entries: list[tuple[str, bytes]]) -> bytes:
    """A minimal STORED zip written by hand: names and sizes exactly as given, nothing normalised."""
    import zlib

    local, central, offset = io.BytesIO(), io.BytesIO(), 0
    for name, data in entries:
        raw = name.encode("utf-8")
        crc = zlib.crc32(data)
        header = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0x800, 0, 0, 0, crc, len(data), len(data), len(raw), 0)
        local.write(header + raw + data)
        central.write(
            struct.pack(
                "<4s6H3L5H2L",
                b"PK\x01\x02",
                20,
                20,
                0x800,
                0,
                0,
                0,
                crc,
                len(data),
                len(data),
                len(raw),
                0,
                0,
                0,
                0,
                0o644 << 16,
                offset,
            )
            + raw
        )
        offset += len(header) + len(raw) + len(data)
    cd = central.getvalue()
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(cd), offset, 0)
    return local.getvalue() + cd + end
