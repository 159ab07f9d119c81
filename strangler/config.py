"""Typed settings, read once from ``STRANGLER_*`` environment variables.

Twelve-factor: every process (CLI, monolith, workers, tests) reads the same
variables through :func:`get_settings`. A missing or invalid value fails at
start with a message naming the variable and the fix. Nothing here opens a
connection or starts a process; "embedded" only says which addresses the
embedded defaults live at, and ``strangler up`` is what starts them.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from strangler.errors import ConfigError

PREFIX = "STRANGLER_"
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str, *, allow_zero: bool = False) -> timedelta:
    """``90s``, ``30m``, ``12h``, ``60d``, ``2w`` -> a timedelta; ValueError saying what is wrong.

    The one parser behind settings and the command line (``acl.prune.parse_window`` is its
    twin inside ``acl``, which does not import ``strangler``).
    """
    found = _DURATION.match(text)
    if not found:
        raise ValueError(f"{text!r} is not a duration like 90s, 30m, 12h, 60d or 2w")
    if not allow_zero and int(found.group(1)) == 0:
        raise ValueError(f"{text!r} is zero; give a duration above zero")
    return timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})

DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105


@dataclass(frozen=True)
class Settings:
    env: str
    home: Path
    secret_key: str
    log_format: str
    log_level: str
    pg_port: int
    monolith_database_url: str
    control_database_url: str
    ledger_database_url: str
    webhooks_database_url: str
    notifications_database_url: str
    embedded_postgres: bool
    kafka_bootstrap_servers: str
    embedded_kafka: bool
    kafka_port: int
    redis_url: str | None
    monolith_port: int
    proxy_port: int
    control_port: int
    ledger_port: int
    webhooks_port: int
    notifications_port: int
    smtp_port: int  # the embedded SMTP sink `strangler up` starts when no SMTP server is configured
    ledger_service_url: str | None  # where the monolith reaches the ledger service, if not on this host
    monolith_workers: int
    monolith_threads: int
    bank_failure_suffix: str
    # Gate thresholds. The defaults are production's; `strangler demo` lowers them to fit minutes.
    shadow_min_samples: int
    shadow_min_match_rate: float
    shadow_max_latency_delta_ms: float  # candidate p99 minus primary p99
    decommission_window: timedelta  # no monolith traffic on a capability's routes for this long
    canary_gate_basis_points: int  # a canary above this share needs the full cutover evidence
    proxy_live_within: timedelta  # a proxy instance silent for longer is not counted as live

    @property
    def celery_broker_url(self) -> str:
        if self.redis_url:
            return self.redis_url
        return "filesystem://"

    @property
    def celery_folder(self) -> Path:
        return self.home / "celery"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def monolith_url(self) -> str:
        return f"http://127.0.0.1:{self.monolith_port}"

    @property
    def proxy_url(self) -> str:
        """Where legacy clients point once the strangler is in front of the monolith."""
        return f"http://127.0.0.1:{self.proxy_port}"

    @property
    def control_url(self) -> str:
        return f"http://127.0.0.1:{self.control_port}"

    @property
    def ledger_url(self) -> str:
        """The ledger service: STRANGLER_LEDGER_URL, else this host's STRANGLER_LEDGER_PORT."""
        return self.ledger_service_url or f"http://127.0.0.1:{self.ledger_port}"

    @property
    def webhooks_url(self) -> str:
        return f"http://127.0.0.1:{self.webhooks_port}"

    @property
    def notifications_url(self) -> str:
        return f"http://127.0.0.1:{self.notifications_port}"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        r = _Reader(environ)
        env = r.choice("ENV", "dev", ("dev", "test", "production"))
        home = Path(r.text("HOME", ".strangler")).expanduser().absolute()
        pg_port = r.port("PG_PORT", 55432)
        embedded_db = f"postgresql://postgres@127.0.0.1:{pg_port}"
        monolith_db = r.url("MONOLITH_DATABASE_URL", None, schemes=("postgresql", "postgres"))
        control_db = r.url("CONTROL_DATABASE_URL", None, schemes=("postgresql", "postgres"))
        ledger_db = r.url("LEDGER_DATABASE_URL", None, schemes=("postgresql", "postgres"))
        webhooks_db = r.url("WEBHOOKS_DATABASE_URL", None, schemes=("postgresql", "postgres"))
        notifications_db = r.url("NOTIFICATIONS_DATABASE_URL", None, schemes=("postgresql", "postgres"))
        kafka_port = r.port("KAFKA_PORT", 19092)
        kafka = r.text("KAFKA_BOOTSTRAP_SERVERS", "")
        secret = r.text("SECRET_KEY", "")
        if not secret:
            if env == "production":
                raise ConfigError(
                    "STRANGLER_SECRET_KEY is not set. In production it is required: set it to a "
                    "long random string (e.g. `python -c 'import secrets;print(secrets.token_urlsafe(50))'`)."
                )
            secret = DEV_SECRET_KEY
        return cls(
            env=env,
            home=home,
            secret_key=secret,
            log_format=r.choice("LOG_FORMAT", "json" if env == "production" else "console",
                                ("json", "console")),
            log_level=r.choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
            pg_port=pg_port,
            monolith_database_url=monolith_db or f"{embedded_db}/paystream",
            control_database_url=control_db or f"{embedded_db}/strangler_control",
            ledger_database_url=ledger_db or f"{embedded_db}/ledger",
            webhooks_database_url=webhooks_db or f"{embedded_db}/webhooks",
            notifications_database_url=notifications_db or f"{embedded_db}/notifications",
            embedded_postgres=None in (monolith_db, control_db, ledger_db, webhooks_db, notifications_db),
            kafka_bootstrap_servers=kafka or f"127.0.0.1:{kafka_port}",
            embedded_kafka=not kafka,
            kafka_port=kafka_port,
            redis_url=r.url("REDIS_URL", None, schemes=("redis", "rediss")),
            monolith_port=r.port("MONOLITH_PORT", 8000),
            proxy_port=r.port("PROXY_PORT", 8080),
            control_port=r.port("CONTROL_PORT", 8100),
            ledger_port=r.port("LEDGER_PORT", 8001),
            webhooks_port=r.port("WEBHOOKS_PORT", 8002),
            notifications_port=r.port("NOTIFICATIONS_PORT", 8003),
            smtp_port=r.port("SMTP_PORT", 8025),
            ledger_service_url=(r.url("LEDGER_URL", None, schemes=("http", "https")) or "").rstrip("/")
            or None,
            monolith_workers=r.integer("MONOLITH_WORKERS", 3, low=1, high=64),
            monolith_threads=r.integer("MONOLITH_THREADS", 4, low=1, high=64),
            bank_failure_suffix=r.text("BANK_FAILURE_SUFFIX", "0000"),
            shadow_min_samples=r.integer("SHADOW_MIN_SAMPLES", 1000, low=1, high=10_000_000),
            shadow_min_match_rate=r.fraction("SHADOW_MIN_MATCH_RATE", 0.999),
            shadow_max_latency_delta_ms=float(r.integer("SHADOW_MAX_LATENCY_DELTA_MS", 50, low=1,
                                                        high=600_000)),
            decommission_window=r.duration("DECOMMISSION_WINDOW", "60d"),
            canary_gate_basis_points=r.percent_basis_points("CANARY_GATE_PERCENT", "5"),
            proxy_live_within=r.duration("PROXY_LIVE_WITHIN", "5s"),
        )


def format_duration(window: timedelta) -> str:
    """The largest whole unit, as the settings write durations: 60d, 12h, 30m, 90s."""
    seconds = int(window.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class _Reader:
    """Reads one prefixed variable at a time and explains what is wrong with it."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def _raw(self, name: str) -> str | None:
        value = self.environ.get(PREFIX + name)
        return None if value is None or value.strip() == "" else value.strip()

    def text(self, name: str, default: str) -> str:
        value = self._raw(name)
        return default if value is None else value

    def integer(self, name: str, default: int, *, low: int, high: int) -> int:
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            number = low - 1
        if not low <= number <= high:
            raise ConfigError(
                f"{PREFIX}{name}={value!r} is not a whole number from {low} to {high}. "
                f"Set it to one (default {default}) or unset it."
            )
        return number

    def fraction(self, name: str, default: float) -> float:
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if not 0.0 < number <= 1.0:
            raise ConfigError(f"{PREFIX}{name}={value!r} is not a fraction in (0, 1], e.g. 0.999. "
                              f"Set it to one (default {default}) or unset it.")
        return number

    def percent_basis_points(self, name: str, default: str) -> int:
        """A percentage 0..100 in steps of 0.01, as basis points (5 -> 500)."""
        value = self._raw(name) or default
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        points = round(number * 100)
        if not 0 <= number <= 100 or abs(points - number * 100) > 1e-6:
            raise ConfigError(f"{PREFIX}{name}={value!r} is not a percentage from 0 to 100 in steps "
                              f"of 0.01, e.g. 5 or 2.5. Set it to one (default {default}) or unset it.")
        return points

    def duration(self, name: str, default: str) -> timedelta:
        value = self._raw(name) or default
        try:
            return parse_duration(value)
        except ValueError:
            raise ConfigError(f"{PREFIX}{name}={value!r} is not a duration like 90s, 30m, 12h or "
                              f"60d. Set it to one (default {default}) or unset it.") from None

    def port(self, name: str, default: int) -> int:
        return self.integer(name, default, low=1, high=65535)

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self._raw(name)
        if value is None:
            return default
        for choice in choices:
            if value.lower() == choice.lower():
                return choice
        raise ConfigError(
            f"{PREFIX}{name}={value!r} is not one of {', '.join(choices)}. "
            f"Set it to one of those (default {default}) or unset it."
        )

    def url(self, name: str, default: str | None, *, schemes: tuple[str, ...]) -> str | None:
        value = self._raw(name)
        if value is None:
            return default
        parts = urlsplit(value)
        if parts.scheme not in schemes or not (parts.hostname or "host=" in parts.query):
            raise ConfigError(
                f"{PREFIX}{name} is not a {schemes[0]}:// URL with a host "
                f"(got scheme {parts.scheme or 'none'!r}). Example: "
                f"{schemes[0]}://user:password@db.example.com:5432/name. Unset it to use the "
                "embedded default."
            )
        return value


class PrefixedReader:
    """One service's own ``STRANGLER_<SERVICE>_*`` variables: text with a default, bounded numbers.

    ``error`` builds the service's own configuration error from the message."""

    def __init__(self, environ: Mapping[str, str], prefix: str, error: Callable[[str], Exception]) -> None:
        self.environ, self.prefix, self.error = environ, prefix, error

    def raw(self, name: str, default: str) -> str:
        return (self.environ.get(self.prefix + name) or "").strip() or default

    def number(self, name: str, default: float, low: float, high: float) -> float:
        text = self.raw(name, str(default))
        try:
            value = float(text)
        except ValueError:
            value = low - 1
        if not low <= value <= high:  # also refuses nan
            raise self.error(f"{self.prefix}{name}={text!r} is not a number from {low} to {high}. "
                             f"Set one (default {default}) or unset it.")
        return value


def mask_url_password(url: str) -> str:
    """``postgresql://u:secret@h/db`` → ``postgresql://u:***@h/db`` for display and logs."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


@functools.cache
def get_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    return Settings.from_environ(os.environ)


def reset_settings_cache() -> None:
    get_settings.cache_clear()
