"""Pure parts of the seeder: scale, API keys, password hashes, timestamp text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monolith.seed.plan import (
    TimestampText,
    default_anchor,
    derive_api_key,
    django_password_hash,
    epoch_us,
    plan_scale,
)


def test_api_keys_are_stable_per_seed_and_distinct_per_merchant() -> None:
    assert derive_api_key(42, 0) == derive_api_key(42, 0)
    keys = {derive_api_key(42, i) for i in range(50)}
    assert len(keys) == 50
    assert derive_api_key(43, 0) != derive_api_key(42, 0)
    key = derive_api_key(42, 0)
    assert key.startswith("ps_test_") and len(key) == 40
    assert key[8:].replace("-", "").replace("_", "").isalnum()


def test_password_hash_is_accepted_by_django() -> None:
    from django.contrib.auth.hashers import check_password

    encoded = django_password_hash("hunter2", iterations=1_000)
    assert encoded.startswith("pbkdf2_sha256$1000$")
    assert check_password("hunter2", encoded)
    assert not check_password("hunter3", encoded)


def test_scale_gives_about_a_hundred_transactions_per_wallet() -> None:
    scale = plan_scale(1_000_000, 10)
    assert scale.users == 10_000
    assert plan_scale(10, 3).users_per_merchant == 4  # a floor, so every state is represented


@pytest.mark.parametrize(("transactions", "merchants"), [(-1, 1), (10, 0)])
def test_scale_rejects_impossible_sizes(transactions: int, merchants: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        plan_scale(transactions, merchants)


def test_timestamp_text_matches_isoformat() -> None:
    fmt = TimestampText()
    moment = datetime(2026, 3, 9, 7, 5, 3, 120, tzinfo=UTC)
    assert fmt(epoch_us(moment)) == "2026-03-09 07:05:03.000120+00"


def test_default_anchor_is_the_start_of_the_utc_day() -> None:
    assert default_anchor(datetime(2026, 3, 9, 23, 59, tzinfo=UTC)) == datetime(2026, 3, 9,
                                                                                 tzinfo=UTC)
