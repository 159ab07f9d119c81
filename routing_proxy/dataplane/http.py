"""HTTP/1.1 building blocks the data plane shares: request heads, framing, error answers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from http import HTTPStatus

# Headers that describe one connection, not the message (RFC 9110 7.6.1), plus the
# framing headers the proxy rewrites itself on each side.
HOP_BY_HOP = frozenset(
    {
        b"connection", b"keep-alive", b"proxy-connection", b"proxy-authenticate",
        b"proxy-authorization", b"te", b"trailer", b"trailers", b"transfer-encoding", b"upgrade",
    }
)
INTERNAL_PREFIX = b"x-strangler-"
# Response headers the proxy may add or change; everything else passes byte for byte.
VOLATILE_RESPONSE_HEADERS = frozenset(
    {b"connection", b"keep-alive", b"transfer-encoding", b"content-length", b"x-request-id"}
)
NO_BODY_STATUSES = frozenset({204, 304})


@dataclass(slots=True)
class RequestHead:
    """A parsed client request head; header names and values kept as received."""

    method: str
    target: bytes
    path: str
    query: str
    http_version: str
    raw_headers: list[tuple[bytes, bytes]]
    headers: dict[str, str]  # lower-case name -> value (last wins), for decisions
    keep_alive: bool
    chunked: bool
    content_length: int | None
    client_ip: str
    request_id: str = ""
    upgrade: bytes = b""  # the Upgrade header of a protocol upgrade request (e.g. websocket)
    expect_continue: bool = False  # Expect: 100-continue; the upstream's 100 is relayed


def status_line(status: int, reason: bytes | None = None) -> bytes:
    if reason is None:
        try:
            reason = HTTPStatus(status).phrase.encode()
        except ValueError:
            reason = b""
    return b"HTTP/1.1 %d %s\r\n" % (status, reason)


def error_response(status: int, error_code: str, message: str, request_id: str, *,
                   close: bool = True) -> bytes:
    """A proxy-generated answer in the monolith's legacy error shape."""
    body = json.dumps(
        {"status": "error", "error_code": error_code, "message": message, "errors": {}}
    ).encode()
    head = [
        status_line(status),
        b"Content-Type: application/json\r\n",
        b"Content-Length: %d\r\n" % len(body),
        b"X-Request-ID: %s\r\n" % request_id.encode("latin-1"),
    ]
    if close:
        head.append(b"Connection: close\r\n")
    head.append(b"\r\n")
    return b"".join(head) + body


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"
