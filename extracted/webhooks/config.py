"""This service's settings, read from ``STRANGLER_*`` variables on first use (never at import).

The database URL is ``strangler.config.Settings.webhooks_database_url``
(``STRANGLER_WEBHOOKS_DATABASE_URL``, embedded ``webhooks`` database by default); the
service-specific knobs below are ``STRANGLER_WEBHOOKS_*``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from extracted.webhooks.cutover import CAPABILITY
from extracted.webhooks.errors import ConfigError
from extracted.webhooks.ssrf import IPNetwork, parse_allowlist
from strangler.config import PrefixedReader, get_settings

PREFIX = "STRANGLER_WEBHOOKS_"


@dataclass(frozen=True)
class WebhooksConfig:
    database_url: str
    allowed_networks: tuple[IPNetwork, ...]  # SSRF allowlist; empty in production
    max_attempts: int  # attempts before a delivery is dead-lettered
    backoff_base: float  # seconds before the first retry; doubles each attempt
    backoff_cap: float  # no retry waits longer than this
    connect_timeout: float
    total_timeout: float  # whole attempt: connect, send, status line and (capped) body
    max_response_bytes: int  # response body read at most this far, kept for the log
    send_concurrency: int  # sends of one batch in flight at once, per worker process
    broker_url: str  # Celery: Redis when STRANGLER_REDIS_URL is set, else the filesystem transport
    broker_folder: Path
    # the capability flag that says who delivers (see cutover.py); None: this service always does
    capability: str | None
    control_database_url: str  # where the flag and the per-occurrence decisions live

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> WebhooksConfig:
        base = get_settings()

        reader = PrefixedReader(environ, PREFIX, ConfigError)
        raw, number = reader.raw, reader.number

        try:
            allowed = parse_allowlist(raw("ALLOWED_NETWORKS", ""))
        except ValueError as exc:
            raise ConfigError(f"{PREFIX}ALLOWED_NETWORKS: {exc}. Fix or unset it.") from None
        return cls(
            database_url=base.webhooks_database_url,
            allowed_networks=allowed,
            max_attempts=int(number("MAX_ATTEMPTS", 8, 1, 100)),
            backoff_base=number("BACKOFF_BASE_SECONDS", 10.0, 0.01, 3600),
            backoff_cap=number("BACKOFF_CAP_SECONDS", 3600.0, 0.01, 86400),
            connect_timeout=number("CONNECT_TIMEOUT_SECONDS", 3.0, 0.05, 60),
            total_timeout=number("TIMEOUT_SECONDS", 10.0, 0.1, 120),
            max_response_bytes=int(number("MAX_RESPONSE_BYTES", 65536, 0, 10_000_000)),
            send_concurrency=int(number("SEND_CONCURRENCY", 8, 1, 64)),
            broker_url=base.celery_broker_url,
            broker_folder=base.celery_folder / "webhooks",
            capability=_capability(raw("CAPABILITY", CAPABILITY)),
            control_database_url=base.control_database_url,
        )


def _capability(value: str) -> str | None:
    """``none`` turns the flag off: a greenfield deployment with no monolith to strangle."""
    return None if value.lower() == "none" else value


@functools.cache
def get_config() -> WebhooksConfig:
    return WebhooksConfig.from_environ(os.environ)


def webhooks_database_url() -> str:
    return get_config().database_url
