"""CandidateSink: the proxy's ShadowSink that replays copies on the candidate (and a secondary) and compares.

``consume`` never waits for the candidate: it starts a task, bounded by
``max_in_flight``; a copy over the bound is dropped and counted. Per capability
(from the rules): a sampling share, a timeout, and whether writes may be copied
(only to candidates declaring dry-run support), and where copies go (``candidate``;
default ``SinkConfig.candidate_url``). Copies carry ``X-Strangler-Shadow`` — the
proxy strips every client-sent ``X-Strangler-*`` header, so clients cannot forge
it — the original ``X-Request-ID`` and the client's ``Host`` (the primary saw that
Host, so absolute links it builds, e.g. ``next``, must match). The transport is a
seam (httpx).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import structlog

from routing_proxy.dataplane.shadow import ShadowCopy, ShadowSink
from shadow.comparator import WRITE_METHODS, Effects, Request, observe
from shadow.diff import Side
from shadow.noise import NoiseModel
from shadow.rules import RuleSet
from shadow.side_effects import HEADER as EFFECTS_HEADER
from shadow.side_effects import Effect, PrimaryEffects, decode_header
from shadow.store import ObservationStore

log = structlog.get_logger("shadow.sink")
SHADOW_HEADER = "X-Strangler-Shadow"
_DROP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
                   "upgrade", "content-length", "x-request-id", "expect"})


@dataclass(frozen=True)
class SinkConfig:
    candidate_url: str
    secondary_url: str | None = None
    # value of X-Strangler-Shadow; candidates may require it as a shared secret
    shadow_token: str = "1"  # noqa: S105
    max_in_flight: int = 64


def sampled(request_id: str, percent: float) -> bool:
    """Deterministic per request id, so primary, candidate and secondary agree on a replay."""
    if percent >= 100:
        return True
    bucket = int.from_bytes(hashlib.sha256(request_id.encode()).digest()[:4], "big") % 10_000
    return bucket < percent * 100


def admit(copy: ShadowCopy, rules: RuleSet, counts: Counter[str]) -> bool:
    """Whether ``copy`` is compared at all: its capability's sampling share, and writes only with dry-run."""
    capability = rules.for_capability(copy.capability)
    if not sampled(copy.request_id, capability.sample_percent):
        counts["sampled_out"] += 1
        return False
    if copy.method in WRITE_METHODS and not capability.dry_run:
        counts["write_skipped"] += 1  # never a second real side effect
        return False
    return True


class CandidateSink(ShadowSink):
    def __init__(self, config: SinkConfig, rules: RuleSet, store: ObservationStore, *,
                 primary_effects: PrimaryEffects | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.config = config
        self.rules = rules
        self.store = store
        self.primary_effects = primary_effects
        self.clock = clock
        self.noise = NoiseModel()
        self.counts: Counter[str] = Counter()
        self._client = httpx.AsyncClient(transport=transport, follow_redirects=False)
        self._tasks: set[asyncio.Task[None]] = set()

    def _admit(self, copy: ShadowCopy) -> bool:
        return admit(copy, self.rules, self.counts)

    async def consume(self, copy: ShadowCopy) -> None:
        """Start comparing ``copy`` and return at once; over ``max_in_flight`` it is dropped and counted."""
        if not self._admit(copy):
            return
        if len(self._tasks) >= self.config.max_in_flight:
            self.counts["dropped_in_flight"] += 1
            return
        task = asyncio.get_running_loop().create_task(self._observe(copy))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_for_room(self) -> None:
        """Wait until fewer than ``max_in_flight`` copies are being compared (a feeder's backpressure)."""
        while len(self._tasks) >= self.config.max_in_flight:
            await asyncio.wait(list(self._tasks), return_when=asyncio.FIRST_COMPLETED)

    async def observe_now(self, copy: ShadowCopy) -> None:
        """Compare ``copy`` and wait for it (replay: recorded traffic has no client to protect)."""
        if self._admit(copy):
            await self._observe(copy)

    async def drain(self) -> None:
        """Wait for copies being compared (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        await self.drain()
        await self._client.aclose()

    def headers_for(self, copy: ShadowCopy) -> list[tuple[str, str]]:
        headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in copy.request_headers
                   if n.lower().decode("latin-1") not in _DROP and not n.lower().startswith(b"x-strangler-")]
        headers += [("X-Request-ID", copy.request_id), (SHADOW_HEADER, self.config.shadow_token),
                    ("X-Strangler-Capability", copy.capability)]
        return headers

    async def _call(self, base_url: str, copy: ShadowCopy, timeout: float, target: bytes
                    ) -> tuple[Side | None, str, bool, list[tuple[str, str]]]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            response = await self._client.request(
                copy.method, base_url.rstrip("/") + target.decode("latin-1"),
                headers=self.headers_for(copy), content=copy.request_body, timeout=timeout)
        except httpx.TimeoutException as exc:
            return None, f"no answer within {timeout:g}s ({type(exc).__name__})", True, []
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}", False, []
        elapsed = loop.time() - started
        headers = {k.lower(): v for k, v in response.headers.items()}
        side = Side(response.status_code, headers, response.content, elapsed)
        return side, "", False, list(response.headers.items())

    async def _actual_effects(self, request_id: str) -> list[Effect] | None:
        """The monolith's events for the request; None (effects unknown) when they cannot be read."""
        if self.primary_effects is None:
            return None
        try:
            return await self.primary_effects.for_request(request_id)
        except Exception as exc:  # no outbox, database down: the response is still worth comparing
            self.counts["effects_unreadable"] += 1
            log.warning("shadow.primary_effects_unreadable", request_id=request_id, error=str(exc))
            return None

    async def _observe(self, copy: ShadowCopy) -> None:
        try:
            await self._observe_unguarded(copy)
        except Exception:  # one broken comparison must not stop the others; logged and counted
            self.counts["comparison_failed"] += 1
            log.exception("shadow.comparison_failed", request_id=copy.request_id)

    async def _observe_unguarded(self, copy: ShadowCopy) -> None:
        rules = self.rules.for_capability(copy.capability)
        # a compatibility shim's candidate serves the legacy path under its own; the secondary
        # is a monolith and gets the legacy path
        calls = [self._call(rules.candidate or self.config.candidate_url, copy, rules.timeout_s,
                            copy.candidate_target or copy.target)]
        if self.config.secondary_url:
            calls.append(self._call(self.config.secondary_url, copy, rules.timeout_s, copy.target))
        answers = await asyncio.gather(*calls)
        candidate, error, timed_out, _ = answers[0]
        secondary = answers[1][0] if len(answers) > 1 else None
        primary = Side(copy.status, {n.decode("latin-1").lower(): v.decode("latin-1")
                                     for n, v in copy.response_headers},
                       copy.response_body, getattr(copy, "primary_latency_s", None), copy.truncated)
        effects = None
        if copy.method in WRITE_METHODS and candidate is not None:
            actual = await self._actual_effects(copy.request_id)
            effects = Effects(actual, decode_header(candidate.headers.get(EFFECTS_HEADER)),
                              None if secondary is None
                              else decode_header(secondary.headers.get(EFFECTS_HEADER)))
        path = copy.target.split(b"?", 1)[0].decode("latin-1")
        request = Request(copy.request_id, copy.capability, copy.method, path)
        at = self.clock()

        def compare_and_store() -> str:
            # off the proxy's event loop: a comparison costs about a millisecond of CPU
            observation = observe(request, primary, candidate, secondary, rules, self.noise, at,
                                  error=error, timed_out=timed_out, effects=effects)
            self.store.add(observation)
            return str(observation.outcome)

        self.counts[await asyncio.to_thread(compare_and_store)] += 1
