"""Shadow tee: copies of (request, primary response) for a ShadowSink to consume.

The client never waits for the shadow: copies go into a bounded queue with
``put_nowait``; when it is full the copy is dropped and counted. One consumer
task hands copies to the sink; a sink that is slow or broken only drops copies.
The comparison against the candidate is built on top of a ShadowSink later.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
from dataclasses import dataclass

import structlog

from routing_proxy.dataplane.metrics import ProxyMetrics

log = structlog.get_logger("routing_proxy.shadow")


@dataclass(frozen=True, slots=True)
class ShadowCopy:
    request_id: str
    capability: str
    method: str
    target: bytes
    request_headers: tuple[tuple[bytes, bytes], ...]
    request_body: bytes
    status: int
    response_headers: tuple[tuple[bytes, bytes], ...]
    response_body: bytes
    truncated: bool  # a body exceeded shadow_max_body; compare with care
    primary_latency_s: float | None = None  # primary's time to answer, for the latency comparison
    # a compatibility shim's target on the candidate (``routing_proxy.rewrite``); None: ``target``
    candidate_target: bytes | None = None


class ShadowSink(abc.ABC):
    """Consumes shadow copies, e.g. replays them on the candidate and compares."""

    @abc.abstractmethod
    async def consume(self, copy: ShadowCopy) -> None: ...

    def consume_now(self, copy: ShadowCopy) -> bool:
        """A sink that never waits takes the copy here, on the proxy's loop, and returns True;
        the tee then skips its queue and the task hop. The default takes nothing (False)."""
        return False


class InMemoryShadowSink(ShadowSink):
    """Keeps every copy; the fake for tests and a debugging aid."""

    def __init__(self) -> None:
        self.copies: list[ShadowCopy] = []
        self.received = asyncio.Event()

    async def consume(self, copy: ShadowCopy) -> None:
        self.copies.append(copy)
        self.received.set()


class ShadowTee:
    def __init__(self, sink: ShadowSink | None, queue_size: int, max_body: int,
                 metrics: ProxyMetrics) -> None:
        self.sink = sink
        self.max_body = max_body
        self.metrics = metrics
        self.queue: asyncio.Queue[ShadowCopy] = asyncio.Queue(maxsize=queue_size)
        self._task: asyncio.Task[None] | None = None

    @property
    def active(self) -> bool:
        return self.sink is not None

    def offer(self, copy: ShadowCopy) -> bool:
        """Enqueue without waiting; False (and counted) when the queue is full."""
        sink = self.sink
        if sink is not None and self.queue.empty():  # keep the order of copies already queued
            try:
                taken = sink.consume_now(copy)
            except Exception:  # a broken sink must not reach the client's exchange; logged, skipped
                log.exception("shadow.sink_failed", request_id=copy.request_id)
                taken = True
            if taken:
                self.metrics.shadow_enqueued.inc()
                return True
        try:
            self.queue.put_nowait(copy)
        except asyncio.QueueFull:
            self.metrics.shadow_dropped.inc()
            return False
        self.metrics.shadow_enqueued.inc()
        return True

    def start(self) -> None:
        if self.sink is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._consume(self.sink))

    async def stop(self, drain_timeout: float = 2.0) -> None:
        """Hand the copies still queued to the sink (a bounded wait: sinks never block), then stop."""
        if self._task is not None and not self._task.done():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(drain_timeout):
                    await self.queue.join()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _consume(self, sink: ShadowSink) -> None:
        while True:
            copy = await self.queue.get()
            try:
                await sink.consume(copy)
            except Exception:  # a broken sink must not stop the tee; it is logged and skipped
                log.exception("shadow.sink_failed", request_id=copy.request_id)
            finally:
                self.queue.task_done()
