"""The HTTP adapter: one signed POST to a pre-checked address, with hard limits.

- SSRF: the URL's host is resolved ONCE (``ssrf.resolve_target``); the connection goes to
  that checked address, with the original name in ``Host`` and as the TLS SNI/verified
  name, so a DNS answer that changes afterwards (rebinding) cannot redirect the request.
- Redirects are never followed (a 3xx is a failed attempt).
- Timeouts: connect, and a deadline for the whole attempt including the body read.
- The response body is read up to ``max_response_bytes`` and the rest is discarded.
Connections (``pinned_http``) are kept alive and pooled per (scheme, name, address, port),
so a TLS session is never shared by two names.
"""

from __future__ import annotations

import http.client
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from extracted.webhooks import signing, ssrf
from extracted.webhooks.domain import AttemptResult
from extracted.webhooks.errors import TargetRefused
from extracted.webhooks.pinned_http import ConnectionPool, TargetKey

USER_AGENT = "PayStream-Webhooks/2.0"


@dataclass(frozen=True)
class Limits:
    connect_timeout: float = 3.0
    total_timeout: float = 10.0
    max_response_bytes: int = 65536


@dataclass(frozen=True)
class Outcome:
    result: AttemptResult
    address: str | None  # where the request went (None when refused before connecting)
    body_excerpt: bytes


class _Stale(Exception):
    """A reused keep-alive connection the receiver had closed: nothing was received; retry fresh."""


class Sender:
    max_targets = 64  # targets with pooled connections kept, least recently used dropped

    def __init__(self, limits: Limits, allowlist: tuple[ssrf.IPNetwork, ...],
                 resolver: ssrf.Resolver = ssrf.system_resolver, connections_per_host: int = 4,
                 tls: ssl.SSLContext | None = None) -> None:
        self.limits, self.allowlist, self.resolver = limits, allowlist, resolver
        self.connections_per_host = connections_per_host  # as many as sends run at once
        # tls: the system's trust store by default; tests pass a context trusting their own CA
        self._pool = ConnectionPool(connections_per_host, self.max_targets, tls)

    def close(self) -> None:
        self._pool.close()

    def send(self, url: str, secret: str, body: bytes, headers: dict[str, str],
             timestamp: int) -> Outcome:
        try:
            return self._send(url, secret, body, headers, timestamp)
        except (ValueError, UnicodeError) as exc:
            # e.g. a non-ASCII path or host http.client cannot put on the wire, a bad port: no
            # retry can fix the URL, and one bad endpoint must not abort its batch's records
            return Outcome(AttemptResult(None, f"cannot send to this URL: {type(exc).__name__}: {exc}"[:500],
                                         permanent=True), None, b"")

    def _send(self, url: str, secret: str, body: bytes, headers: dict[str, str],
              timestamp: int) -> Outcome:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme not in ("http", "https"):
            return Outcome(AttemptResult(None, f"unsupported URL scheme {parts.scheme!r}; use https",
                                         permanent=True), None, b"")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            target = ssrf.resolve_target(host, port, self.allowlist, self.resolver)
        except TargetRefused as exc:
            return Outcome(AttemptResult(None, str(exc), permanent=True), None, b"")
        request_headers = {
            **headers,
            "Host": parts.netloc.rpartition("@")[2],
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            signing.SIGNATURE_HEADER: signing.sign(secret, timestamp, body),
        }
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        key = TargetKey(parts.scheme, host, target.address, port)
        deadline = time.monotonic() + self.limits.total_timeout
        for _ in range(2):  # a second try only on a fresh connection after a stale one
            conn, reused = self._pool.take(key, self.limits.connect_timeout)
            try:
                code, excerpt, reusable = self._exchange(conn, reused, path, body, request_headers, deadline)
            except _Stale:
                conn.close()
                continue
            except TimeoutError as exc:
                conn.close()
                return Outcome(AttemptResult(None, f"timeout: {exc}"), target.address, b"")
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                return Outcome(AttemptResult(None, f"{type(exc).__name__}: {exc}"[:500]), target.address, b"")
            if reusable:
                self._pool.give_back(key, conn)
            else:
                conn.close()
            return Outcome(AttemptResult(code, ""), target.address, excerpt)
        return Outcome(AttemptResult(None, "ConnectError: the receiver closed two connections in a row"),
                       target.address, b"")

    def _exchange(self, conn: http.client.HTTPConnection, reused: bool, path: str, body: bytes,
                  headers: dict[str, str], deadline: float) -> tuple[int, bytes, bool]:
        """POST and read the status and up to ``max_response_bytes`` of the body, by ``deadline``.

        Returns (status, excerpt, whether the connection may be reused).
        """
        def remaining() -> float:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("response body exceeded the attempt deadline")
            return left

        if conn.sock is None:
            conn.timeout = min(self.limits.connect_timeout, remaining())
            try:
                conn.connect()
            except TimeoutError:
                raise TimeoutError("ConnectTimeout") from None
            except OSError as exc:
                raise ConnectError(f"ConnectError: {exc}") from exc
        conn.sock.settimeout(remaining())
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
        except TimeoutError:
            raise TimeoutError("ReadTimeout") from None
        except ConnectionError as exc:
            if reused:  # the receiver closed the idle connection before it saw anything
                raise _Stale from exc
            raise
        limit, kept = self.limits.max_response_bytes, bytearray()
        try:
            while len(kept) < limit:
                conn.sock.settimeout(remaining())
                chunk = response.read(min(8192, limit - len(kept)))
                if not chunk:
                    break
                kept += chunk
        except TimeoutError:
            raise TimeoutError("response body exceeded the attempt deadline") from None
        # reusable only when the whole body was read and the receiver keeps the connection
        return response.status, bytes(kept), response.isclosed() and not response.will_close


class ConnectError(OSError):
    """The connection to the checked address could not be made (refused, unreachable, TLS)."""

    def __str__(self) -> str:
        return str(self.args[0]).removeprefix("ConnectError: ")
