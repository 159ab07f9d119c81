"""The HTTP adapter: one signed POST to a pre-checked address, with hard limits.

- SSRF: the URL's host is resolved ONCE (``ssrf.resolve_target``); the connection goes to
  that checked address, with the original name in ``Host`` and as the TLS SNI/verified
  name, so a DNS answer that changes afterwards (rebinding) cannot redirect the request.
- Redirects are never followed (a 3xx is a failed attempt).
- Timeouts: connect, and a deadline for the whole attempt including the body read.
- The response body is read up to ``max_response_bytes`` and the rest is discarded.
Connections are pooled per target host name, so a TLS session is never shared by two names.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from extracted.webhooks import signing, ssrf
from extracted.webhooks.domain import AttemptResult
from extracted.webhooks.errors import TargetRefused

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


class Sender:
    max_clients = 64  # pooled clients kept, least recently used dropped

    def __init__(self, limits: Limits, allowlist: tuple[ssrf.IPNetwork, ...],
                 resolver: ssrf.Resolver = ssrf.system_resolver) -> None:
        self.limits, self.allowlist, self.resolver = limits, allowlist, resolver
        self._clients: OrderedDict[str, httpx.Client] = OrderedDict()

    def _client(self, host: str) -> httpx.Client:
        client = self._clients.pop(host, None)
        if client is None:
            timeout = httpx.Timeout(self.limits.total_timeout, connect=self.limits.connect_timeout)
            client = httpx.Client(follow_redirects=False, timeout=timeout, trust_env=False,
                                  limits=httpx.Limits(max_connections=4, max_keepalive_connections=4))
        self._clients[host] = client
        while len(self._clients) > self.max_clients:
            self._clients.popitem(last=False)[1].close()
        return client

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def send(self, url: str, secret: str, body: bytes, headers: dict[str, str],
             timestamp: int) -> Outcome:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            target = ssrf.resolve_target(host, port, self.allowlist, self.resolver)
        except TargetRefused as exc:
            return Outcome(AttemptResult(None, str(exc), permanent=True), None, b"")
        pinned = httpx.URL(url).copy_with(host=target.address)
        host_header = parts.netloc.rpartition("@")[2]
        request_headers = {
            **headers,
            "Host": host_header,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            signing.SIGNATURE_HEADER: signing.sign(secret, timestamp, body),
        }
        deadline = time.monotonic() + self.limits.total_timeout
        client = self._client(host)
        try:
            request = client.build_request("POST", pinned, content=body, headers=request_headers,
                                           extensions={"sni_hostname": host})
            response = client.send(request, stream=True)
            try:
                excerpt = self._read_capped(response, deadline)
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            return Outcome(AttemptResult(None, f"timeout: {type(exc).__name__}"), target.address, b"")
        except TimeoutError:
            return Outcome(AttemptResult(None, "timeout: response body exceeded the attempt deadline"),
                           target.address, b"")
        except httpx.HTTPError as exc:
            return Outcome(AttemptResult(None, f"{type(exc).__name__}: {exc}"[:500]), target.address, b"")
        return Outcome(AttemptResult(response.status_code, ""), target.address, excerpt)

    def _read_capped(self, response: httpx.Response, deadline: float) -> bytes:
        kept = bytearray()
        for chunk in response.iter_raw(8192):
            if time.monotonic() > deadline:
                raise TimeoutError
            kept += chunk[: self.limits.max_response_bytes - len(kept)]
            if len(kept) >= self.limits.max_response_bytes:
                break  # stop reading; closing the response drops the rest
        return bytes(kept)
