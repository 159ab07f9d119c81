"""Settings of one proxy instance: upstreams, limits, timeouts. Validated at construction."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from routing_proxy.decision import MONOLITH
from routing_proxy.fence import FenceConfig


@dataclass(frozen=True)
class UpstreamConfig:
    name: str
    host: str
    port: int
    connect_timeout: float = 2.0
    response_timeout: float = 30.0  # request sent -> response head, and between body reads
    max_idle: int = 128  # idle keep-alive connections kept per upstream
    idle_ttl: float = 4.0  # drop idle connections before the upstream's own keep-alive ends
    breaker_failures: int = 5
    breaker_reset: float = 10.0

    @classmethod
    def from_url(cls, name: str, url: str, **options: float | int) -> UpstreamConfig:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream {name!r}: {url!r} must be an http://host:port URL")
        return cls(name, parts.hostname, parts.port or 80, **options)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ProxyConfig:
    upstreams: Mapping[str, UpstreamConfig]
    max_header_bytes: int = 16 * 1024
    max_body_bytes: int = 10 * 1024 * 1024
    header_timeout: float = 10.0  # first byte of a request -> end of its head
    body_timeout: float = 30.0  # longest pause between two pieces of a request body
    keepalive_timeout: float = 75.0  # idle client connection is closed after this
    fallback_enabled: bool = True
    fallback_statuses: frozenset[int] = frozenset({500, 502, 503, 504})
    shadow_queue_size: int = 1000
    shadow_max_body: int = 1024 * 1024
    forwarded_proto: str = "http"
    instance_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    access_log: bool = True
    fence: FenceConfig = field(default_factory=FenceConfig)  # read-your-writes (routing_proxy.fence)

    def __post_init__(self) -> None:
        if MONOLITH not in self.upstreams:
            raise ValueError("ProxyConfig needs a 'monolith' upstream: it serves unmatched routes")
