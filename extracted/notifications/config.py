"""This service's settings, read from ``STRANGLER_*`` variables on first use (never at import).

The database URL is ``strangler.config.Settings.notifications_database_url``
(``STRANGLER_NOTIFICATIONS_DATABASE_URL``, embedded ``notifications`` database by default).
While the monolith's inline e-mails are being strangled the service also reads the
monolith's notification decisions (``STRANGLER_MONOLITH_DATABASE_URL``). The
service-specific knobs are ``STRANGLER_NOTIFICATIONS_*``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from extracted.notifications.domain import RetryPolicy
from extracted.notifications.errors import ConfigError
from extracted.notifications.templates import DEFAULT_DIR
from strangler.config import PrefixedReader, get_settings

PREFIX = "STRANGLER_NOTIFICATIONS_"


@dataclass(frozen=True)
class NotificationsConfig:
    database_url: str
    legacy_database_url: str  # the monolith's, for hooks_notificationdecision and the comparison
    decisions: str  # monolith: obey the monolith's recorded decisions | own: the inline path is gone
    templates_dir: Path
    fallback_locale: str
    smtp_host: str
    smtp_port: int
    smtp_sender: str
    smtp_timeout: float  # per SMTP step; also bounds how long a hanging server holds a send
    smtp_starttls: bool
    outbox_dir: Path  # the SMS and push file adapters write here
    retry: RetryPolicy

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> NotificationsConfig:
        base = get_settings()

        reader = PrefixedReader(environ, PREFIX, ConfigError)
        raw, number = reader.raw, reader.number

        starttls = raw("SMTP_STARTTLS", "false").lower()
        if starttls not in ("true", "false", "1", "0"):
            raise ConfigError(f"{PREFIX}SMTP_STARTTLS={starttls!r}: use true or false.")
        decisions = raw("DECISIONS", "monolith")
        if decisions not in ("monolith", "own"):
            raise ConfigError(f"{PREFIX}DECISIONS={decisions!r}: use monolith (obey the monolith's recorded "
                              "decisions, while its inline e-mails exist) or own (after they are removed).")
        return cls(
            database_url=base.notifications_database_url,
            legacy_database_url=base.monolith_database_url,
            decisions=decisions,
            templates_dir=Path(raw("TEMPLATES_DIR", str(DEFAULT_DIR))),
            fallback_locale=raw("FALLBACK_LOCALE", "en"),
            smtp_host=raw("SMTP_HOST", "127.0.0.1"),
            smtp_port=int(number("SMTP_PORT", 25, 1, 65535)),
            smtp_sender=raw("SMTP_SENDER", "no-reply@paystream.example"),
            smtp_timeout=number("SMTP_TIMEOUT_SECONDS", 10.0, 0.1, 300),
            smtp_starttls=starttls in ("true", "1"),
            outbox_dir=Path(raw("OUTBOX_DIR", str(base.home / "notifications"))),
            retry=RetryPolicy(max_attempts=int(number("MAX_ATTEMPTS", 6, 1, 100)),
                              base=number("BACKOFF_BASE_SECONDS", 30.0, 0.01, 3600),
                              cap=number("BACKOFF_CAP_SECONDS", 3600.0, 0.01, 86400)),
        )


@functools.cache
def get_config() -> NotificationsConfig:
    return NotificationsConfig.from_environ(os.environ)
