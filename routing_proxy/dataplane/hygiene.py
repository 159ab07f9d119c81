"""Header hygiene: what crosses the proxy in each direction, and what does not.

Towards upstreams: hop-by-hop headers (and those the client's ``Connection``
lists) are dropped; client-supplied ``X-Strangler-*`` headers are dropped so no
client can spoof a mode or a shadow flag; ``X-Forwarded-For/Proto/Host`` and
``X-Request-ID`` are set; the proxy's own ``X-Strangler-*`` headers are added.
Towards clients: hop-by-hop headers are dropped and framing is redone by the
relay; so are ``X-Strangler-*`` headers, which only the toolkit's services send (the
read-your-writes fence's result, see ``routing_proxy.fence``) and the monolith never
does; everything else passes byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass

from routing_proxy.dataplane.http import HOP_BY_HOP, INTERNAL_PREFIX, RequestHead
from routing_proxy.decision import Decision

_SET_BY_PROXY = frozenset(
    {b"content-length", b"expect", b"x-forwarded-for", b"x-forwarded-proto",
     b"x-forwarded-host", b"x-request-id"}
)


def _connection_tokens(value: str | None) -> frozenset[bytes]:
    if not value:
        return frozenset()
    return frozenset(t.strip().lower().encode("latin-1") for t in value.split(","))


@dataclass(slots=True)
class ResponseHeaders:
    lines: list[bytes]
    chunked: bool
    has_length: bool


class HeaderHygiene:
    def __init__(self, forwarded_proto: str, instance_id: str) -> None:
        self.proto_line = b"X-Forwarded-Proto: %s\r\n" % forwarded_proto.encode()
        self.instance_line = b"X-Strangler-Instance: %s\r\n" % instance_id.encode("latin-1")

    def upstream_request_lines(self, head: RequestHead, decision: Decision) -> list[bytes]:
        """Header lines (``b"Name: value\\r\\n"``) for the upstream request, framing excluded."""
        drop = _connection_tokens(head.headers.get("connection"))
        lines: list[bytes] = []
        forwarded_for = b""
        for name, value in head.raw_headers:
            low = name.lower()
            if low in HOP_BY_HOP or low in drop or low.startswith(INTERNAL_PREFIX):
                continue
            if low in _SET_BY_PROXY:
                if low == b"x-forwarded-for":
                    forwarded_for = value + b", "
                continue
            lines.append(b"%s: %s\r\n" % (name, value))
        lines.append(b"X-Forwarded-For: %s%s\r\n" % (forwarded_for, head.client_ip.encode()))
        lines.append(self.proto_line)
        host = head.headers.get("host")
        if host is not None:
            lines.append(b"X-Forwarded-Host: %s\r\n" % host.encode("latin-1"))
        lines.append(b"X-Request-ID: %s\r\n" % head.request_id.encode("latin-1"))
        lines.append(self.instance_line)
        if decision.capability:
            lines.append(
                b"X-Strangler-Capability: %s\r\nX-Strangler-Mode: %s\r\n"
                % (decision.capability.encode(), str(decision.mode).encode())
            )
        return lines

    def client_response_headers(self, raw: list[tuple[bytes, bytes]]) -> ResponseHeaders:
        """Upstream response headers minus hop-by-hop ones; notes how the body was framed."""
        drop: frozenset[bytes] = frozenset()
        chunked = has_length = False
        for name, value in raw:
            low = name.lower()
            if low == b"connection":
                drop = drop | _connection_tokens(value.decode("latin-1"))
            elif low == b"transfer-encoding":
                chunked = chunked or b"chunked" in value.lower()
            elif low == b"content-length":
                has_length = True
        lines = []
        for name, value in raw:
            low = name.lower()
            if (low in HOP_BY_HOP or low in drop or (chunked and low == b"content-length")
                    or low.startswith(INTERNAL_PREFIX)):
                continue
            lines.append(b"%s: %s\r\n" % (name, value))
        return ResponseHeaders(lines, chunked, has_length and not chunked)
