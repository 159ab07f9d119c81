"""Replay of recorded traffic for CI: a corpus against a primary and a candidate, no live traffic.

A corpus is either a mitmproxy flow file written by ``strangler capture`` (detected by
its content: tnetstring records, whatever the file is called) or JSONL, one recorded
exchange per line::

    {"capability": "wallets", "method": "GET", "target": "/api/v1/wallets/1/",
     "headers": [["Authorization", "Api-Key ..."]], "body": "", "request_id": "optional"}

``body`` is text; ``body_b64`` carries bytes. Flow files name no capability: every
exchange gets ``default_capability`` (``--capability``). They are read with
mitmproxy's ``FlowReader`` (``routing_proxy.capture.export``): in this process when
mitmproxy is importable, else in the mitmproxy virtualenv ``strangler capture``
installs; with neither, a clear error says how to get it. Only whole flows are
replayed: a torn last record (a capture killed mid-write) is skipped with a warning.
``strangler capture`` redacted credentials (``Authorization: Api-Key [redacted]``);
``set_headers`` puts real ones back for the replay.

Each exchange is sent to the primary (timed), and the answer becomes a ShadowCopy for
the same CandidateSink the proxy uses, so replay and live shadowing compare, store and
report identically. Writes are skipped unless ``include_writes`` (the primary would
really apply them), and the sink sends them to the candidate only in dry-run.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import subprocess
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from routing_proxy.capture import flowfile
from routing_proxy.capture import runtime as mitm_runtime
from routing_proxy.dataplane.shadow import ShadowCopy
from shadow.comparator import WRITE_METHODS
from shadow.errors import CorpusError
from shadow.sink import CandidateSink
from strangler.errors import StranglerError

log = logging.getLogger("shadow.replay")
REDACTED = "[redacted]"  # what strangler capture puts in place of a secret
# Not replayed from a flow file: the transport sets them, or replay sets its own (X-Request-ID).
_FLOW_DROP = frozenset({"host", "content-length", "transfer-encoding", "connection", "keep-alive",
                        "proxy-connection", "te", "trailer", "upgrade", "x-request-id"})
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
EXPORT_TIMEOUT_S = 600


@dataclass(frozen=True, slots=True)
class TimedCopy(ShadowCopy):
    """A copy that knows how long the primary took (the proxy's copies do not carry it yet)."""

    primary_latency_s: float | None = None


@dataclass(frozen=True)
class Recorded:
    capability: str
    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    request_id: str


def read_corpus(path: str | Path, default_capability: str | None = None,
                set_headers: Iterable[tuple[str, str]] = ()) -> Iterator[Recorded]:
    """The exchanges of a JSONL corpus or a mitmproxy flow file (detected by content).

    ``set_headers``: (name, value) pairs; an exchange that carries a header of that name
    (e.g. a redacted ``Authorization``) is replayed with this value instead.
    """
    replacements = {name.strip().lower(): (name.strip(), value) for name, value in set_headers}
    read = read_flows if is_flow_file(path) else read_jsonl
    items = read(path, default_capability)
    for item in items:
        yield _with_headers(item, replacements) if replacements else item


def _with_headers(item: Recorded, replacements: dict[str, tuple[str, str]]) -> Recorded:
    headers = tuple(replacements.get(n.lower(), (n, v)) for n, v in item.headers)
    return Recorded(item.capability, item.method, item.target, headers, item.body, item.request_id)


def is_flow_file(path: str | Path) -> bool:
    """A mitmproxy flow file (tnetstring records), not JSONL; an empty ``.flow`` file counts as one."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(32)
    except OSError:
        return False  # read_jsonl names the problem
    if not head:
        return Path(path).suffix.lower() in flowfile.FLOW_SUFFIXES
    return flowfile.looks_like_flows(head)


def read_jsonl(path: str | Path, default_capability: str | None = None) -> Iterator[Recorded]:
    source = str(path)
    fix = 'write one JSON object per line: {"capability", "method", "target", "headers", "body"}'
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CorpusError(source, f"cannot read the corpus ({exc.strerror})", "check the path") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except ValueError as exc:
            raise CorpusError(source, f"not JSON ({exc})", fix, number) from exc
        if (
            not isinstance(raw, dict)
            or not isinstance(raw.get("method"), str)
            or not str(raw.get("target", "")).startswith("/")
        ):
            raise CorpusError(source, "needs a string `method` and a `target` starting with /", fix, number)
        capability = raw.get("capability") or default_capability
        if not capability:
            raise CorpusError(source, "no `capability` and no --capability given", fix, number)
        try:
            body = (
                base64.b64decode(raw["body_b64"]) if "body_b64" in raw else str(raw.get("body", "")).encode()
            )
            headers = tuple((str(n), str(v)) for n, v in raw.get("headers", []))
        except (ValueError, TypeError) as exc:
            raise CorpusError(source, f"invalid body or headers ({exc})", fix, number) from exc
        yield Recorded(
            str(capability),
            raw["method"].upper(),
            raw["target"],
            headers,
            body,
            str(raw.get("request_id") or uuid.uuid4().hex),
        )


def read_flows(path: str | Path, default_capability: str | None = None) -> Iterator[Recorded]:
    """The HTTP exchanges of a mitmproxy flow file, read with mitmproxy's FlowReader."""
    source = str(path)
    if not default_capability:
        raise CorpusError(source, "a flow file names no capability",
                          "pass --capability NAME (the capability whose rules apply to these flows)")
    exchanges, summary = _export(Path(path))
    if summary.get("torn_bytes"):
        log.warning("%s: the last %s bytes are not a whole flow (%s), probably from a capture that was "
                    "killed; replaying the %s whole flows before them", source, summary["torn_bytes"],
                    summary.get("problem") or "torn record", summary.get("records"))
    if summary.get("skipped"):
        log.warning("%s: %s non-HTTP flows (TCP, UDP, DNS) skipped", source, summary["skipped"])
    redacted = 0
    for number, raw in enumerate(exchanges, start=1):
        try:
            headers = tuple((str(n), str(v)) for n, v in raw["headers"])
            body = base64.b64decode(raw["body_b64"])
            method, target = str(raw["method"]).upper(), str(raw["target"])
        except (KeyError, ValueError, TypeError) as exc:
            raise CorpusError(source, f"flow {number} cannot be read ({exc})",
                              "capture it again with `strangler capture`") from exc
        if not target.startswith("/"):
            raise CorpusError(source, f"flow {number} has no origin-form path ({target[:80]!r})",
                              "capture in reverse mode with `strangler capture`")
        request_id = next(
            (v for n, v in headers if n.lower() == "x-request-id" and _SANE_REQUEST_ID.match(v)),
            str(raw.get("flow_id") or uuid.uuid4().hex))
        if any(REDACTED in v for _, v in headers):
            redacted += 1
        yield Recorded(default_capability, method, target,
                       tuple((n, v) for n, v in headers if n.lower() not in _FLOW_DROP), body, request_id)
    if redacted:
        log.warning("%s: %s exchanges carry values that strangler capture redacted (e.g. Authorization: "
                    "Api-Key [redacted]); primary and candidate will answer those as unauthenticated "
                    "unless credentials are set for the replay", source, redacted)


def _export(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Read the flow file with mitmproxy: here if importable, else in the mitmproxy virtualenv."""
    source = str(path)
    summary: dict[str, Any] = {}
    if mitm_runtime.in_process():
        from routing_proxy.capture.export import FlowFileError, exchanges

        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CorpusError(source, f"cannot read it ({exc.strerror})", "check the path") from exc
        try:
            return list(exchanges(data, summary)), summary
        except FlowFileError as exc:
            raise CorpusError(source, str(exc), "pass a file written by `strangler capture`") from exc
    try:
        mitm = mitm_runtime.require()
    except StranglerError as exc:
        raise CorpusError(source, "reading a mitmproxy flow file needs mitmproxy, which is not installed",
                          mitm_runtime.SETUP_HINT) from exc
    from routing_proxy.capture import export

    try:
        done = subprocess.run([str(mitm.python), export.__file__, str(path)], capture_output=True,
                              timeout=EXPORT_TIMEOUT_S, check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CorpusError(source, f"mitmproxy ({mitm.python}) could not read it ({exc})",
                          "check the mitmproxy virtualenv, or remove it so --setup recreates it") from exc
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        raise CorpusError(source, why[0], "pass a file written by `strangler capture`")
    records: list[dict[str, Any]] = []
    for line in done.stdout.splitlines():
        item = json.loads(line)
        if "summary" in item:
            summary = item["summary"]
        else:
            records.append(item)
    return records, summary


async def replay(
    corpus: list[Recorded],
    primary_url: str,
    sink: CandidateSink,
    *,
    include_writes: bool = False,
    concurrency: int = 8,
    transport: httpx.AsyncBaseTransport | None = None,
) -> int:
    """Replay every exchange; returns how many were sent. Comparison results go to the sink's store."""
    sent = 0
    gate = asyncio.Semaphore(concurrency)
    loop = asyncio.get_running_loop()
    async with httpx.AsyncClient(base_url=primary_url, transport=transport) as client:

        async def one(item: Recorded) -> None:
            nonlocal sent
            async with gate:
                started = loop.time()
                response = await client.request(
                    item.method,
                    item.target,
                    content=item.body,
                    headers=[*item.headers, ("X-Request-ID", item.request_id)],
                )
                elapsed = loop.time() - started
            sent += 1
            await sink.observe_now(
                TimedCopy(
                    item.request_id,
                    item.capability,
                    item.method,
                    item.target.encode(),
                    tuple((n.encode(), v.encode()) for n, v in item.headers),
                    item.body,
                    response.status_code,
                    tuple((n.encode(), v.encode()) for n, v in response.headers.items()),
                    response.content,
                    False,
                    elapsed,
                )
            )

        await asyncio.gather(*(one(i) for i in corpus if include_writes or i.method not in WRITE_METHODS))
    return sent
