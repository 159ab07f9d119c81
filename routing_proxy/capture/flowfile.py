"""The framing of mitmproxy flow files, read without mitmproxy: how many whole flows a file holds.

A ``.flow`` file is a sequence of tnetstrings (``<length>:<payload><type>``), one
per flow, each a dict (type ``}``). A capture killed in the middle of a write can
leave a torn last record; mitmproxy's own ``FlowReader`` then yields every whole
flow and raises on the tail. ``scan`` finds where the whole records end, so the
replay can read exactly those and say what it skipped, and a capture whose
mitmproxy died can keep what it had.

Standard library only: the capture addon runs this inside the mitmproxy process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MAX_LENGTH_DIGITS = 12  # as mitmproxy.io.tnetstring
_TYPES = frozenset(b",;#^!~}]")
FLOW_SUFFIXES = (".flow", ".flows", ".mitm", ".dump")


@dataclass(frozen=True)
class Scan:
    records: int  # whole records
    end: int  # offset just past the last whole record
    size: int  # bytes in the file
    problem: str = ""  # why scanning stopped before ``size``, if it did

    @property
    def torn_bytes(self) -> int:
        return self.size - self.end


def scan(data: bytes) -> Scan:
    """Count the whole top-level tnetstring records at the start of ``data``."""
    offset, records, size = 0, 0, len(data)
    while offset < size:
        colon = data.find(b":", offset, offset + MAX_LENGTH_DIGITS + 1)
        digits = data[offset:colon] if colon != -1 else data[offset:offset + MAX_LENGTH_DIGITS + 1]
        if colon == -1:
            if digits.isdigit() and size - offset <= MAX_LENGTH_DIGITS:
                return Scan(records, offset, size, "the file ends inside a record's length prefix")
            return Scan(records, offset, size, f"no record starts at byte {offset}")
        if not digits.isdigit():
            return Scan(records, offset, size, f"no record starts at byte {offset}")
        end = colon + 1 + int(digits) + 1
        if end > size:
            return Scan(records, offset, size,
                        f"the last record is cut short ({size - offset} of {end - offset} bytes)")
        if data[end - 1] not in _TYPES:
            return Scan(records, offset, size, f"the record at byte {offset} has no valid type tag")
        offset, records = end, records + 1
    return Scan(records, offset, size)


def looks_like_flows(head: bytes) -> bool:
    """Whether a file starting with ``head`` is a mitmproxy flow file (a tnetstring dict), not JSONL."""
    colon = head.find(b":", 0, MAX_LENGTH_DIGITS + 1)
    return colon > 0 and head[:colon].isdigit()


def salvage(path: Path) -> Scan:
    """Cut a torn last record off ``path`` in place, keeping every whole flow (fsynced)."""
    found = scan(path.read_bytes())
    if found.torn_bytes:
        with path.open("r+b") as handle:
            handle.truncate(found.end)
            handle.flush()
            os.fsync(handle.fileno())
    return found
