"""Response relay: writes an upstream response to the client as it arrives, re-framed.

Status line (with the upstream's own reason phrase), headers and body bytes pass
through unchanged; only hop-by-hop headers and framing differ. A body the
upstream sent chunked or close-delimited is re-chunked for HTTP/1.1 clients.
When the exchange is shadowed, the relay also records a bounded copy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from routing_proxy.dataplane.http import LAST_CHUNK, NO_BODY_STATUSES, chunk
from routing_proxy.dataplane.hygiene import HeaderHygiene
from routing_proxy.dataplane.shadow import ShadowCopy, ShadowTee
from routing_proxy.fence import RESULT_HEADER_LOWER, parse_result

if TYPE_CHECKING:
    from routing_proxy.dataplane.client import ClientConnection, Exchange
    from routing_proxy.dataplane.upstream import UpstreamConnection


class ShadowRecorder:
    """Keeps up to ``max_body`` bytes of the primary response for the shadow copy."""

    __slots__ = ("clock", "headers", "max_body", "parts", "size", "started", "status", "truncated")

    def __init__(self, max_body: int, started: float = 0.0,
                 clock: Callable[[], float] | None = None) -> None:
        self.max_body = max_body
        self.started = started
        self.clock = clock
        self.parts: list[bytes] = []
        self.size = 0
        self.status = 0
        self.headers: tuple[tuple[bytes, bytes], ...] = ()
        self.truncated = False

    def add(self, data: bytes) -> None:
        if self.size + len(data) > self.max_body:
            self.truncated = True
            return
        self.parts.append(data)
        self.size += len(data)

    def copy(self, exchange: Exchange, tee: ShadowTee) -> ShadowCopy:
        head, body = exchange.head, exchange.body
        request_body = b"".join(body.chunks)
        return ShadowCopy(
            request_id=head.request_id, capability=exchange.decision.capability,
            method=head.method, target=head.target, request_headers=tuple(head.raw_headers),
            request_body=request_body[: tee.max_body], status=self.status,
            response_headers=self.headers, response_body=b"".join(self.parts),
            truncated=self.truncated or len(request_body) > tee.max_body,
            primary_latency_s=None if self.clock is None else self.clock() - self.started,
            candidate_target=exchange.extracted_target,
        )


class ResponseRelay:
    """Buffers what one upstream read produced (head, body pieces, last chunk) and writes it
    to the client in one ``write`` when the upstream connection calls ``flush``."""

    __slots__ = ("client", "exchange", "fenced", "hygiene", "pending", "rechunk", "recorder",
                 "refused", "status", "upgraded", "vouch")

    def __init__(self, client: ClientConnection, exchange: Exchange, hygiene: HeaderHygiene,
                 refused: frozenset[int], recorder: ShadowRecorder | None,
                 fenced: bool = False, vouch: bool = True) -> None:
        self.fenced = fenced  # the request carried read-your-writes tokens (routing_proxy.fence)
        # ... and an answer the service did not vouch for is refused (a read, which then falls
        # back); a fenced write only notes the result and relays whatever the service answered
        self.vouch = vouch
        self.client = client
        self.exchange = exchange
        self.hygiene = hygiene
        self.refused = refused
        self.recorder = recorder
        self.rechunk = False
        self.status = 0
        self.pending: list[bytes] = []
        self.upgraded = False  # the upstream switched protocols; the connections are a tunnel

    def on_response_head(self, status: int, reason: bytes,
                         headers: list[tuple[bytes, bytes]]) -> bool:
        if self.fenced:
            result = self.exchange.fence_result = parse_result(
                next((v for n, v in headers if n.lower() == RESULT_HEADER_LOWER), None))
            if self.vouch and result not in ("hit", "waited"):
                return False  # a miss, or a service that ignored the fence: never served unverified
        if status in self.refused:
            return False
        exchange = self.exchange
        if status == 101 and not exchange.head.upgrade:
            return False  # switching protocols nobody asked to switch to
        self.status = status
        cleaned = self.hygiene.client_response_headers(headers)
        lines = cleaned.lines
        if exchange.head.expect_continue and not exchange.body.done:
            exchange.must_close = True  # the client may never send the body it announced
        if exchange.head.upgrade:
            # Until the tunnel is up (on_upgrade), the connection is not reusable: an
            # upgrade the upstream refused leaves the client's side in an unknown state.
            exchange.must_close = True
            if status == 101:
                upgrade = next((v for n, v in headers if n.lower() == b"upgrade"), b"")
                lines.append(b"Connection: Upgrade\r\nUpgrade: %s\r\n" % upgrade)
        bodiless = exchange.head.method == "HEAD" or status in NO_BODY_STATUSES or status < 200
        if not bodiless and not cleaned.has_length:
            if exchange.head.http_version == "1.1":
                self.rechunk = True
                lines.append(b"Transfer-Encoding: chunked\r\n")
            else:  # an HTTP/1.0 client reads to the end of the connection
                exchange.must_close = True
        if not cleaned.has_request_id:
            lines.append(b"X-Request-ID: %s\r\n" % exchange.head.request_id.encode("latin-1"))
        if (exchange.must_close or not exchange.head.keep_alive) and status != 101:
            lines.append(b"Connection: close\r\n")
        if self.recorder is not None:
            self.recorder.status = status
            self.recorder.headers = tuple(headers)
        exchange.response_started = True
        self.pending.append(b"HTTP/1.1 %d %s\r\n%s\r\n" % (status, reason, b"".join(lines)))
        return True

    def on_response_body(self, data: bytes) -> None:
        if self.recorder is not None:
            self.recorder.add(data)
        self.pending.append(chunk(data) if self.rechunk else data)

    def on_response_complete(self) -> None:
        if self.rechunk:
            self.pending.append(LAST_CHUNK)

    def on_informational(self, status: int, reason: bytes,
                         headers: list[tuple[bytes, bytes]]) -> None:
        # 1xx answers go to HTTP/1.1 clients only (RFC 9110 15.2); they do not start the
        # response: a failure after a 100 Continue may still be answered with an error.
        if self.exchange.head.http_version == "1.1":
            lines = self.hygiene.client_response_headers(headers).lines
            self.pending.append(b"HTTP/1.1 %d %s\r\n%s\r\n" % (status, reason, b"".join(lines)))

    def on_upgrade(self, conn: UpstreamConnection, rest: bytes) -> bool:
        if self.status != 101 or self.client.closing:
            return False
        self.flush()  # the 101 head before the new protocol's first bytes
        self.upgraded = True
        conn.tunnel = self.client
        self.client.start_tunnel(conn, rest)
        return True

    def flush(self) -> None:
        pending = self.pending
        if pending:
            self.client.write(pending[0] if len(pending) == 1 else b"".join(pending))
            pending.clear()
