"""Replay of recorded traffic for CI: a JSONL corpus against a primary and a candidate, no live traffic.

mitmproxy flow files (``strangler capture``) are not in this checkout yet, so the
corpus is JSONL, one recorded exchange per line::

    {"capability": "wallets", "method": "GET", "target": "/api/v1/wallets/1/",
     "headers": [["Authorization", "Api-Key ..."]], "body": "", "request_id": "optional"}

``body`` is text; ``body_b64`` carries bytes. Each exchange is sent to the primary
(timed), and the answer becomes a ShadowCopy for the same CandidateSink the proxy
uses, so replay and live shadowing compare, store and report identically.
Writes are skipped unless ``include_writes`` (the primary would really apply them).
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from routing_proxy.dataplane.shadow import ShadowCopy
from shadow.comparator import WRITE_METHODS
from shadow.errors import CorpusError
from shadow.sink import CandidateSink


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


def read_corpus(path: str | Path, default_capability: str | None = None) -> Iterator[Recorded]:
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
