"""The request handler: route, call the upstream, fall back or fail, then count and log.

Runs as one task per exchange. Upstream failures of an extracted capability fall
back to the monolith for idempotent requests (counted); writes get a 503 with the
request id. Failures of the monolith itself give 502/504: there is nowhere else
to go.

Read-your-writes (``routing_proxy.fence``): a write sent to the monolith leaves a token
for its client; a read routed to an extracted upstream carries that client's pending
tokens, and if the upstream cannot vouch for them in time (a 503 with a fence result of
``miss``, or no fence result at all) the read falls back to the monolith like any
idempotent failure, but as a ``fence_miss``: not an upstream error, not a breaker failure.
A write routed to an extracted upstream carries the tokens too, so the service waits for
them, but its answer is relayed whatever the fence result: a write never falls back.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

from routing_proxy.breaker import BreakerState
from routing_proxy.dataplane.behaviours import Behaviours
from routing_proxy.dataplane.fallback import failure_kind
from routing_proxy.dataplane.http import LAST_CHUNK, RequestHead, chunk, error_response
from routing_proxy.dataplane.relay import ResponseRelay, ShadowRecorder
from routing_proxy.dataplane.upstream import UpstreamConnection, UpstreamPool
from routing_proxy.decision import IDEMPOTENT_METHODS, MONOLITH, Decision
from routing_proxy.errors import (
    CircuitOpenError,
    ClientRequestError,
    FenceMissError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamStatusError,
    UpstreamTimeoutError,
)
from routing_proxy.fence import client_key

if TYPE_CHECKING:
    from routing_proxy.dataplane.client import ClientConnection, Exchange

log = structlog.get_logger("routing_proxy.handler")


Resume = Callable[["ClientConnection", "Exchange", "UpstreamError | None"], None]


class RequestHandler:
    """``begin`` routes an exchange when it becomes active. The common case (a bodyless
    idempotent request, an idle keep-alive connection to a healthy upstream, no fence;
    shadowed or not) is then sent at once and finished by a callback, without a task: a task,
    its coroutine chain and a future cost about as much as the rest of the request. Every
    other case, and a fast exchange that failed, runs ``handle`` in a task (``resume``)."""

    def __init__(self, behaviours: Behaviours, pools: dict[str, UpstreamPool],
                 loop: asyncio.AbstractEventLoop, resume: Resume | None = None) -> None:
        self.b = behaviours
        self.pools = pools
        self.loop = loop
        self.resume = resume

    def begin(self, client: ClientConnection, exchange: Exchange) -> bool:
        """Route ``exchange`` and apply the fence; True if it is now in flight without a task
        (callbacks finish it), False if ``handle`` must run it."""
        b = self.b
        # uvloop's loop.time() is cached per iteration (ms); latency needs a finer clock.
        exchange.started = time.perf_counter()
        head = exchange.head
        try:
            decision, exchange.route_key, exchange.extracted_target = b.router.route(head)
        except ClientRequestError as refused:  # a shim's template refused a path parameter
            exchange.must_close = True
            client.reject(refused)
            return True  # answered; the connection closes, nothing else runs for it
        exchange.decision = decision
        # A request that might be sent twice (or copied) must keep its body.
        exchange.body.retain = (decision.shadow or decision.fallback_allowed
                                or head.method in IDEMPOTENT_METHODS)
        exchange.upstream = upstream = decision.upstream
        fence = b.fence
        if fence.enabled:
            if upstream == MONOLITH:
                if head.method not in IDEMPOTENT_METHODS:
                    key = client_key(head.headers.get("authorization"))
                    if key is not None and fence.write_started(
                            key, head.request_id, head.path, head.headers.get("idempotency-key")):
                        exchange.writer = key
                        b.metrics.fenced(decision.capability, "write_tracked")
            elif head.method not in IDEMPOTENT_METHODS:
                # a write to an extracted service: it waits for the client's monolith writes,
                # but is never refused or replayed because of them (nowhere to fall back to)
                reader = client_key(head.headers.get("authorization"))
                fenced = fence.read(reader)
                if fenced is not None and fenced.bypass:
                    b.metrics.fenced(decision.capability, "write_bypass")  # sent unfenced
                elif fenced is not None:
                    exchange.reader, exchange.fence = reader, fenced
                    b.metrics.fenced(decision.capability, "write_fenced")
            elif b.fallback.applies(decision):
                exchange.reader = client_key(head.headers.get("authorization"))
                fenced = fence.read(exchange.reader)
                if fenced is not None and fenced.bypass:
                    b.metrics.fenced(decision.capability, "bypass")
                    exchange.fell_back, exchange.upstream = True, MONOLITH
                    self._monolith_served(exchange)
                elif fenced is not None:
                    exchange.fence, exchange.fence_vouches = fenced, True
                    b.metrics.fenced(decision.capability, "fenced")
        return self.resume is not None and self._send_now(client, exchange)

    def _send_now(self, client: ClientConnection, exchange: Exchange) -> bool:
        head, body, decision = exchange.head, exchange.body, exchange.decision
        if (exchange.writer is not None or exchange.fence is not None or not body.done
                or body.size or head.upgrade or head.method not in IDEMPOTENT_METHODS):
            return False
        pool = self.pools.get(exchange.upstream)
        if pool is None or (pool.breaker is not None
                            and pool.breaker.state is not BreakerState.CLOSED):
            return False
        conn = pool.take_idle()
        if conn is None:
            return False
        if pool.config.name != MONOLITH:
            refused = self.b.fallback.refused_statuses(decision)
            target = exchange.extracted_target or head.target
        else:
            refused, target = frozenset(), head.target
        tee = self.b.shadow
        recorder = (ShadowRecorder(tee.max_body, exchange.started, time.perf_counter)
                    if decision.shadow and tee.active else None)
        relay = ResponseRelay(client, exchange, self.b.hygiene, refused, recorder)
        client.upstream = conn
        conn.start(self._request(head, target,
                                 self.b.hygiene.upstream_request_lines(head, decision), b""),
                   relay, head.method == "HEAD",
                   functools.partial(self._sent_now, client, exchange, pool, conn, relay))
        return True

    def _sent_now(self, client: ClientConnection, exchange: Exchange, pool: UpstreamPool,
                  conn: UpstreamConnection, relay: ResponseRelay, reusable: bool,
                  error: UpstreamError | None) -> None:
        """The end of an exchange ``_send_now`` started (called soon after, never inside a
        parser callback): finish it, or hand a failure to ``handle`` in a task."""
        if error is None:
            if relay.recorder is not None:  # a shadowed exchange: its copy, as ``_exchange`` offers it
                self.b.shadow.offer(relay.recorder.copy(exchange, self.b.shadow))
            if reusable:
                pool.release(conn)
            else:
                conn.close()
            if pool.breaker is not None:
                pool.breaker.record_success()
            self.finish(exchange, relay.status)
            client.finished(exchange)
            return
        conn.close()
        if client.closing:  # the client went away: nobody to answer, nothing to retry for
            exchange.must_close = True
            self.finish(exchange, 0)
            client.finished(exchange)
            return
        # An idle keep-alive connection the upstream closed just before we wrote: the slow
        # path sends it again from scratch (the request is idempotent and bodyless); any other
        # failure is accounted and answered (fallback or error) as if ``forward`` had met it.
        stale = (isinstance(error, UpstreamProtocolError) and not conn.received_any
                 and not exchange.response_started)
        assert self.resume is not None
        self.resume(client, exchange, None if stale else error)

    def finish(self, exchange: Exchange, status: int) -> None:
        """Count and log a finished exchange."""
        b = self.b
        head = exchange.head
        if exchange.writer is not None:
            b.fence.write_finished(exchange.writer, head.request_id, status)
        seconds = time.perf_counter() - exchange.started
        b.metrics.observe(exchange.decision, exchange.upstream, status, seconds)
        b.access_log.record(head, exchange.decision, exchange.upstream, status, seconds,
                            exchange.fell_back)

    async def handle(self, client: ClientConnection, exchange: Exchange,
                     first_error: UpstreamError | None = None) -> None:
        """Run a routed exchange (``begin``); ``first_error``: how its fast attempt failed."""
        b = self.b
        decision = exchange.decision
        status = 0
        try:
            try:
                status = await self.forward(client, exchange, decision, exchange.upstream,
                                            first_error)
            except UpstreamError as error:
                if exchange.response_started or not b.fallback.take(decision, error):
                    raise
                if isinstance(error, FenceMissError):
                    self._fence_missed(exchange, exchange.reader)
                else:
                    b.metrics.error(decision, exchange.upstream, failure_kind(error))
                exchange.fell_back, exchange.upstream = True, MONOLITH
                self._monolith_served(exchange)
                status = await self.forward(client, exchange, decision, MONOLITH)
            else:
                if exchange.fence is not None and exchange.upstream != MONOLITH:
                    self._fence_answered(exchange)
        except UpstreamError as error:
            b.metrics.error(decision, exchange.upstream, failure_kind(error))
            status = self.fail(client, exchange, decision, error)
        finally:
            self.finish(exchange, status)

    def _monolith_served(self, exchange: Exchange) -> None:
        """The monolith answers a request routed elsewhere: decommissioning must see it."""
        if exchange.route_key is not None:
            self.b.router.traffic.served_by_monolith(exchange.route_key)

    def _fence_answered(self, exchange: Exchange) -> None:
        """A fenced exchange the extracted service answered: a read only if it vouched (the
        relay refused anything else); a write whatever the service said about the fence."""
        fenced, capability, result = exchange.fence, exchange.decision.capability, exchange.fence_result
        assert fenced is not None
        if exchange.fence_vouches:
            self.b.fence.vouched(exchange.reader, fenced.request_ids)
            self.b.metrics.fenced(capability, result or "hit")
            return
        if result in ("hit", "waited"):
            self.b.fence.vouched(exchange.reader, fenced.request_ids)
        else:  # the write ran without the client's writes (or unverified): later ones do not wait
            self.b.fence.missed(exchange.reader, fenced.request_ids)
        self.b.metrics.fenced(capability, f"write_{result or 'unsupported'}")

    def _fence_missed(self, exchange: Exchange, reader: str | None) -> None:
        fenced, capability = exchange.fence, exchange.decision.capability
        assert fenced is not None
        self.b.fence.missed(reader, fenced.request_ids)
        self.b.metrics.fenced(capability, "miss" if exchange.fence_result == "miss" else "unsupported")
        self.b.metrics.fenced(capability, "fallback")

    async def forward(self, client: ClientConnection, exchange: Exchange, decision: Decision,
                      name: str, first_error: UpstreamError | None = None) -> int:
        """Send the exchange to upstream ``name`` and relay its answer; returns the status.

        ``first_error``: the exchange was already sent (``_send_now``) and failed so; it is
        accounted (breaker, fence) exactly like a failure met here."""
        pool = self.pools.get(name)
        if pool is None:
            raise UpstreamProtocolError(name, "is not configured on this proxy")
        breaker = pool.breaker
        if first_error is None and breaker is not None and not breaker.allow():
            raise CircuitOpenError(name, "circuit open after repeated failures")
        try:
            if first_error is not None:
                raise first_error
            status = await self._exchange(client, exchange, decision, pool)
        except UpstreamStatusError as error:
            if (exchange.fence_vouches and name != MONOLITH
                    and exchange.fence_result not in ("hit", "waited")):
                # the service answered: it is healthy, only behind the client's writes
                if breaker is not None:
                    breaker.record_success()
                raise FenceMissError(name, "could not vouch for the client's recent writes "
                                           f"({exchange.fence_result or 'no fence result'})") from error
            if breaker is not None:
                breaker.record_failure()
            raise
        except UpstreamError:
            if breaker is not None:
                breaker.record_failure()
            raise
        if breaker is not None:
            breaker.record_success()
        return status

    async def _exchange(self, client: ClientConnection, exchange: Exchange, decision: Decision,
                        pool: UpstreamPool) -> int:
        head = exchange.head
        lines = self.b.hygiene.upstream_request_lines(head, decision)
        extracted = pool.config.name != MONOLITH
        refused = self.b.fallback.refused_statuses(decision) if extracted else frozenset()
        # a shim's own path on the extracted side; the monolith (and a fallback) gets the legacy one
        target = (exchange.extracted_target or head.target) if extracted else head.target
        fenced = extracted and exchange.fence is not None
        if fenced:
            assert exchange.fence is not None
            lines.append(exchange.fence.lines)
        vouch = fenced and exchange.fence_vouches
        for attempt in (0, 1):
            conn, reused = await pool.acquire()
            tee = self.b.shadow
            recorder = (ShadowRecorder(tee.max_body, exchange.started, time.perf_counter)
                        if decision.shadow and tee.active and not head.upgrade else None)
            relay = ResponseRelay(client, exchange, self.b.hygiene, refused, recorder, fenced,
                                  vouch)
            client.upstream = conn
            try:
                reusable = await self._send(conn, exchange, target, lines, relay)
            except UpstreamProtocolError:
                conn.close()
                # A kept-alive connection the upstream closed just before we wrote: safe to
                # resend once if nothing came back and the request is idempotent and kept.
                if (attempt == 0 and reused and not conn.received_any
                        and not exchange.response_started and exchange.body.retain
                        and head.method in IDEMPOTENT_METHODS):
                    continue
                raise
            except BaseException:
                conn.close()
                raise
            if relay.upgraded:  # the connection is the client's tunnel now, not the pool's
                return relay.status
            if recorder is not None:
                tee.offer(recorder.copy(exchange, tee))
            if reusable and exchange.body.done:
                pool.release(conn)
            else:
                conn.close()
            return relay.status
        raise AssertionError("unreachable")

    async def _send(self, conn: UpstreamConnection, exchange: Exchange, target: bytes,
                    lines: list[bytes], relay: ResponseRelay) -> bool:
        head, body = exchange.head, exchange.body
        request_line = b"%s %s HTTP/1.1\r\n" % (head.method.encode(), target)
        head_only = head.method == "HEAD"
        whole = body.complete_bytes
        if whole is not None:  # the common case: the body (often empty) is already here
            done = conn.start(self._request(head, target, lines, whole), relay, head_only)
            assert done is not None
            return await done
        if head.chunked:
            framing = b"Transfer-Encoding: chunked\r\n\r\n"
        else:
            framing = b"Content-Length: %d\r\n\r\n" % (head.content_length or 0)
        if head.expect_continue:  # the client waits for the upstream's 100 to send the body
            framing = b"Expect: 100-continue\r\n" + framing
        done = conn.start(request_line + b"".join(lines) + framing, relay, head_only)
        assert done is not None
        # The upstream may answer before reading the whole body (a 415, a 401, a 417 to an
        # Expect: 100-continue the client then never follows with its body). Stop sending,
        # and never reuse this connection: the upstream would read the next request's first
        # bytes as the rest of this body (a request desync).
        async for data in body.read(until=done):
            if done.done():
                break
            conn.write(chunk(data) if head.chunked else data)
            await conn.drain()
        sent_all = body.read_all and not done.done()
        if sent_all and head.chunked:
            conn.write(LAST_CHUNK)
        reusable = await done
        return reusable and sent_all

    @staticmethod
    def _request(head: RequestHead, target: bytes, lines: list[bytes], whole: bytes) -> bytes:
        """The whole upstream request, for a body that has fully arrived (often empty)."""
        if whole or head.content_length is not None:
            framing = b"Content-Length: %d\r\n\r\n" % len(whole)
        else:
            framing = b"\r\n"
        return b"%s %s HTTP/1.1\r\n%s%s%s" % (head.method.encode(), target,
                                              b"".join(lines), framing, whole)

    def fail(self, client: ClientConnection, exchange: Exchange, decision: Decision,
             error: UpstreamError) -> int:
        """Answer an upstream failure in the legacy error shape; returns the status sent."""
        if exchange.response_started:  # too late for an error answer: cut the connection
            exchange.must_close = True
            return 0
        if decision.upstream != MONOLITH and error.upstream != MONOLITH:
            status, code = 503, "upstream_unavailable"
            message = (f"The service for {decision.capability} is unavailable; the request was "
                       "not retried elsewhere. Retry later with the same request id.")
        elif isinstance(error, UpstreamTimeoutError):
            status, code, message = 504, "gateway_timeout", "The upstream did not answer in time."
        else:
            status, code, message = 502, "bad_gateway", "The upstream failed to answer."
        exchange.must_close = True
        client.write_response_head(
            error_response(status, code, message, exchange.head.request_id, close=True)
        )
        log.warning("proxy.upstream_failed", request_id=exchange.head.request_id,
                    upstream=error.upstream, error=error.detail, status=status)
        return status
