"""Settings: defaults are embedded, every bad value fails loudly naming the variable and the fix."""

from __future__ import annotations

import pytest

from strangler.config import Settings, mask_url_password
from strangler.errors import ConfigError


def test_empty_environment_means_embedded_defaults() -> None:
    s = Settings.from_environ({})
    assert s.embedded_postgres and s.embedded_kafka
    assert s.monolith_database_url.endswith(":55432/paystream")
    assert s.control_database_url.endswith(":55432/strangler_control")
    assert s.ledger_database_url.endswith(":55432/ledger")
    assert s.notifications_database_url.endswith(":55432/notifications")
    assert s.celery_broker_url == "filesystem://"


def test_configured_servers_turn_embedded_defaults_off() -> None:
    s = Settings.from_environ({
        "STRANGLER_MONOLITH_DATABASE_URL": "postgresql://u:p@db1:5432/paystream",
        "STRANGLER_CONTROL_DATABASE_URL": "postgresql://u:p@db2:5432/control",
        "STRANGLER_LEDGER_DATABASE_URL": "postgresql://u:p@db3:5432/ledger",
        "STRANGLER_WEBHOOKS_DATABASE_URL": "postgresql://u:p@db4:5432/webhooks",
        "STRANGLER_NOTIFICATIONS_DATABASE_URL": "postgresql://u:p@db5:5432/notifications",
        "STRANGLER_KAFKA_BOOTSTRAP_SERVERS": "kafka:9092",
        "STRANGLER_REDIS_URL": "redis://127.0.0.1:6379/0",
    })
    assert not s.embedded_postgres and not s.embedded_kafka
    assert s.celery_broker_url == "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STRANGLER_MONOLITH_PORT", "eighty"),
        ("STRANGLER_MONOLITH_PORT", "70000"),
        ("STRANGLER_MONOLITH_WORKERS", "0"),
        ("STRANGLER_LOG_FORMAT", "xml"),
        ("STRANGLER_MONOLITH_DATABASE_URL", "mysql://db/x"),
        ("STRANGLER_MONOLITH_DATABASE_URL", "postgresql:///nohost"),
        ("STRANGLER_REDIS_URL", "amqp://guest@localhost//"),
        ("STRANGLER_PROXY_PORT", "0"),
        ("STRANGLER_SHADOW_MIN_MATCH_RATE", "99.9"),
        ("STRANGLER_SHADOW_MIN_MATCH_RATE", "0"),
        ("STRANGLER_SHADOW_MIN_SAMPLES", "-1"),
        ("STRANGLER_SHADOW_MAX_LATENCY_DELTA_MS", "0"),
        ("STRANGLER_DECOMMISSION_WINDOW", "60"),
        ("STRANGLER_DECOMMISSION_WINDOW", "0d"),
        ("STRANGLER_DECOMMISSION_WINDOW", "two months"),
        ("STRANGLER_CANARY_GATE_PERCENT", "101"),
        ("STRANGLER_CANARY_GATE_PERCENT", "-1"),
        ("STRANGLER_CANARY_GATE_PERCENT", "2.555"),
        ("STRANGLER_CANARY_GATE_PERCENT", "five"),
        ("STRANGLER_PROXY_LIVE_WITHIN", "5"),
        ("STRANGLER_LEDGER_URL", "ledger-api:8001"),
        ("STRANGLER_SMTP_PORT", "70000"),
    ],
)
def test_invalid_value_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as exc:
        Settings.from_environ({name: value})
    assert name in str(exc.value)


def test_gate_thresholds_default_to_production_and_read_durations_and_fractions() -> None:
    from datetime import timedelta

    default = Settings.from_environ({})
    assert (default.shadow_min_samples, default.shadow_min_match_rate) == (1000, 0.999)
    assert default.decommission_window == timedelta(days=60)
    demo = Settings.from_environ({"STRANGLER_SHADOW_MIN_MATCH_RATE": "0.99",
                                  "STRANGLER_DECOMMISSION_WINDOW": "90s"})
    assert demo.shadow_min_match_rate == 0.99 and demo.decommission_window == timedelta(seconds=90)
    assert default.proxy_url == "http://127.0.0.1:8080" and default.ledger_url.endswith(":8001")
    assert default.canary_gate_basis_points == 500 and default.proxy_live_within == timedelta(seconds=5)
    tuned = Settings.from_environ({"STRANGLER_CANARY_GATE_PERCENT": "2.5",
                                   "STRANGLER_PROXY_LIVE_WITHIN": "15s"})
    assert tuned.canary_gate_basis_points == 250 and tuned.proxy_live_within == timedelta(seconds=15)
    assert Settings.from_environ({"STRANGLER_LEDGER_URL": "http://ledger-api:8001/"}).ledger_url == \
        "http://ledger-api:8001"


def test_production_requires_a_secret_key() -> None:
    with pytest.raises(ConfigError, match="STRANGLER_SECRET_KEY"):
        Settings.from_environ({"STRANGLER_ENV": "production"})
    assert Settings.from_environ(
        {"STRANGLER_ENV": "production", "STRANGLER_SECRET_KEY": "x" * 50}
    ).log_format == "json"


def test_password_in_url_is_masked_for_display() -> None:
    assert mask_url_password("postgresql://u:s3cret@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert mask_url_password("postgresql://u@h/db") == "postgresql://u@h/db"


def test_a_service_s_own_numbers_are_bounded_and_named_when_wrong() -> None:
    from extracted.notifications.config import NotificationsConfig
    from extracted.notifications.errors import ConfigError as NotificationsConfigError
    from extracted.webhooks.config import WebhooksConfig
    from extracted.webhooks.errors import ConfigError as WebhooksConfigError

    assert NotificationsConfig.from_environ({}).smtp_port == 25
    assert NotificationsConfig.from_environ({"STRANGLER_NOTIFICATIONS_SMTP_PORT": " 2525 "}).smtp_port == 2525
    for bad in ("0", "70000", "nan", "lots"):
        with pytest.raises(NotificationsConfigError, match="STRANGLER_NOTIFICATIONS_SMTP_PORT"):
            NotificationsConfig.from_environ({"STRANGLER_NOTIFICATIONS_SMTP_PORT": bad})
    with pytest.raises(WebhooksConfigError, match=r"STRANGLER_WEBHOOKS_MAX_ATTEMPTS=.*is not a number"):
        WebhooksConfig.from_environ({"STRANGLER_WEBHOOKS_MAX_ATTEMPTS": "-3"})
