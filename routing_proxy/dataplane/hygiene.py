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


_NOT_FORWARDED = HOP_BY_HOP | _SET_BY_PROXY
# Connection values that name no other header (both names are hop-by-hop already).
_PLAIN_CONNECTION = frozenset({"keep-alive", "close", "upgrade"})
_PLAIN_CONNECTION_BYTES = frozenset(v.encode() for v in _PLAIN_CONNECTION)
_NO_TOKENS: frozenset[bytes] = frozenset()


def _connection_tokens(value: str | None) -> frozenset[bytes]:
    if not value or value.lower() in _PLAIN_CONNECTION:
        return _NO_TOKENS
    return frozenset(t.strip().lower().encode("latin-1") for t in value.split(","))


@dataclass(slots=True)
class ResponseHeaders:
    lines: list[bytes]
    chunked: bool
    has_length: bool
    has_request_id: bool = False


class HeaderHygiene:
    def __init__(self, forwarded_proto: str, instance_id: str) -> None:
        self.proto_line = b"X-Forwarded-Proto: %s\r\n" % forwarded_proto.encode()
        self.instance_line = b"X-Strangler-Instance: %s\r\n" % instance_id.encode("latin-1")
        self._fixed = self.proto_line + self.instance_line
        self._capability_lines: dict[tuple[str, object], bytes] = {}

    def upstream_request_lines(self, head: RequestHead, decision: Decision) -> list[bytes]:
        """Header lines (``b"Name: value\\r\\n"``) for the upstream request, framing excluded."""
        drop = _connection_tokens(head.headers.get("connection"))
        lines: list[bytes] = []
        forwarded_for = b""
        host: bytes | None = None
        for name, value in head.raw_headers:
            low = name.lower()
            if low in _NOT_FORWARDED:
                if low == b"x-forwarded-for" and not (drop and low in drop):
                    forwarded_for = value + b", "
                continue
            if low == b"host":
                host = value
            elif low.startswith(INTERNAL_PREFIX):
                continue
            if drop and low in drop:
                continue
            lines.append(b"%s: %s\r\n" % (name, value))
        lines.append(b"X-Forwarded-For: %s%s\r\n%sX-Request-ID: %s\r\n%s" % (
            forwarded_for, head.client_ip.encode(),
            b"" if host is None else b"X-Forwarded-Host: %s\r\n" % host,
            head.request_id.encode("latin-1"), self._fixed))
        if head.upgrade:  # hop-by-hop, but an upgrade must reach the upstream to happen
            lines.append(b"Connection: Upgrade\r\nUpgrade: %s\r\n" % head.upgrade)
        if decision.capability:
            key = (decision.capability, decision.mode)
            capability = self._capability_lines.get(key)
            if capability is None:
                capability = self._capability_lines[key] = (
                    b"X-Strangler-Capability: %s\r\nX-Strangler-Mode: %s\r\n"
                    % (decision.capability.encode(), str(decision.mode).encode()))
            lines.append(capability)
        return lines

    def client_response_headers(self, raw: list[tuple[bytes, bytes]]) -> ResponseHeaders:
        """Upstream response headers minus hop-by-hop ones; notes how the body was framed."""
        # One pass for the usual answer; the two-pass form below when a Connection header
        # names other headers or a chunked body also declares a length.
        lines = []
        chunked = has_length = has_request_id = False
        for name, value in raw:
            low = name.lower()
            if low in HOP_BY_HOP:
                if low == b"transfer-encoding":
                    chunked = chunked or b"chunked" in value.lower()
                elif low == b"connection" and value.lower() not in _PLAIN_CONNECTION_BYTES:
                    return self._client_response_headers(raw)
                continue
            if low == b"content-length":
                has_length = True
            elif low == b"x-request-id":
                has_request_id = True
            elif low.startswith(INTERNAL_PREFIX):
                continue
            lines.append(b"%s: %s\r\n" % (name, value))
        if chunked and has_length:
            return self._client_response_headers(raw)
        return ResponseHeaders(lines, chunked, has_length, has_request_id)

    def _client_response_headers(self, raw: list[tuple[bytes, bytes]]) -> ResponseHeaders:
        drop: frozenset[bytes] = frozenset()
        chunked = has_length = has_request_id = False
        lowered = []
        for name, value in raw:
            low = name.lower()
            lowered.append(low)
            if low == b"connection":
                drop = drop | _connection_tokens(value.decode("latin-1"))
            elif low == b"transfer-encoding":
                chunked = chunked or b"chunked" in value.lower()
            elif low == b"content-length":
                has_length = True
            elif low == b"x-request-id":
                has_request_id = True
        lines = []
        for low, (name, value) in zip(lowered, raw, strict=True):
            if (low in HOP_BY_HOP or low in drop or (chunked and low == b"content-length")
                    or low.startswith(INTERNAL_PREFIX)):
                continue
            lines.append(b"%s: %s\r\n" % (name, value))
        return ResponseHeaders(lines, chunked, has_length and not chunked, has_request_id)
