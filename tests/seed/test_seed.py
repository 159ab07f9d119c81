"""The seeder against a real, migrated PostgreSQL: invariants checked in SQL."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg
import pytest

from monolith.seed import SeedError, seed
from monolith.seed.plan import COLUMNS

ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
INBOUND = (1, 3, 6)  # CREDIT, TRANSFER_IN, PAYOUT_REVERSAL


def _scalar(url: str, query: str) -> object:
    with psycopg.connect(url) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def _checksums(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        return {
            table: conn.execute(
                f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY id), '')) FROM {table} t"
            ).fetchone()[0]  # type: ignore[index]
            for table in COLUMNS
        }


@pytest.fixture
def seeded(migrated_database: Callable[[], str]) -> tuple[str, object]:
    url = migrated_database()
    report = seed(url, transactions=5_000, merchants=3, seed=7, anchor=ANCHOR)
    return url, report


def test_counts_are_as_requested(seeded: tuple[str, object]) -> None:
    url, report = seeded
    assert _scalar(url, "SELECT count(*) FROM wallets_transaction") == 5_000
    assert _scalar(url, "SELECT count(*) FROM accounts_merchant") == 3
    for table, count in report.counts.items():  # type: ignore[attr-defined]
        assert _scalar(url, f"SELECT count(*) FROM {table}") == count, table
    assert report.counts["payouts_payout"] > 0  # type: ignore[attr-defined]


def test_every_wallet_balance_is_the_sum_and_the_last_running_balance(
        seeded: tuple[str, object]) -> None:
    url, _ = seeded
    mismatches = _scalar(url, f"""
        WITH net AS (
            SELECT wallet_id,
                   sum(CASE WHEN txn_type IN {INBOUND} THEN amount ELSE -amount END) AS total
            FROM wallets_transaction GROUP BY wallet_id),
        last AS (
            SELECT DISTINCT ON (wallet_id) wallet_id, balance_after
            FROM wallets_transaction ORDER BY wallet_id, id DESC)
        SELECT count(*) FROM wallets_wallet w
        LEFT JOIN net ON net.wallet_id = w.id LEFT JOIN last ON last.wallet_id = w.id
        WHERE w.balance <> coalesce(net.total, 0) OR w.balance <> coalesce(last.balance_after, 0)
    """)
    assert mismatches == 0


def test_running_balance_steps_by_each_amount_and_never_goes_negative(
        seeded: tuple[str, object]) -> None:
    url, _ = seeded
    bad_steps = _scalar(url, f"""
        SELECT count(*) FROM (
            SELECT balance_after, amount, txn_type,
                   lag(balance_after, 1, 0::bigint) OVER (PARTITION BY wallet_id ORDER BY id) AS prev
            FROM wallets_transaction) s
        WHERE balance_after <> prev + CASE WHEN txn_type IN {INBOUND} THEN amount ELSE -amount END
    """)
    assert bad_steps == 0
    assert _scalar(url, "SELECT count(*) FROM wallets_transaction "
                        "WHERE balance_after < 0 OR amount <= 0") == 0


def test_locked_wallets_follow_the_kyc_rules(seeded: tuple[str, object]) -> None:
    url, _ = seeded
    # limits_locked is exactly "user not verified"; locked wallets only received credits, <= 10k.
    assert _scalar(url, "SELECT count(*) FROM wallets_wallet w JOIN accounts_user u "
                        "ON u.id = w.user_id WHERE w.limits_locked <> (u.kyc_status <> 2)") == 0
    assert _scalar(url, "SELECT count(*) FROM wallets_transaction t JOIN wallets_wallet w "
                        "ON w.id = t.wallet_id WHERE w.limits_locked AND "
                        "(t.txn_type <> 1 OR t.balance_after > 1000000)") == 0
    statuses = _scalar(url, "SELECT array_agg(DISTINCT kyc_status ORDER BY kyc_status) "
                            "FROM accounts_user")
    assert statuses == [0, 1, 2, 3]


def test_payouts_point_at_their_payout_debit(seeded: tuple[str, object]) -> None:
    url, _ = seeded
    assert _scalar(url, "SELECT count(*) FROM payouts_payout p JOIN wallets_transaction t "
                        "ON t.id = p.debit_transaction_id WHERE t.txn_type <> 5 "
                        "OR t.amount <> p.amount OR t.wallet_id <> p.wallet_id") == 0
    failed_without_reversal = _scalar(url, """
        SELECT count(*) FROM payouts_payout p WHERE p.status = 4 AND NOT EXISTS (
            SELECT 1 FROM wallets_transaction r WHERE r.txn_type = 6
            AND r.reference = 'PAYOUT-' || p.id AND r.amount = p.amount)""")
    assert failed_without_reversal == 0


def test_history_spans_about_ninety_days_before_the_anchor(seeded: tuple[str, object]) -> None:
    url, _ = seeded
    days = _scalar(url, "SELECT extract(day FROM %s::timestamptz - min(created_at)) "
                        "FROM wallets_transaction".replace("%s", f"'{ANCHOR.isoformat()}'"))
    assert 88 <= float(days) <= 90  # type: ignore[arg-type]
    assert _scalar(url, f"SELECT max(created_at) < '{ANCHOR.isoformat()}' "
                        "FROM wallets_transaction") is True


def test_sequences_continue_after_the_seeded_ids(seeded: tuple[str, object]) -> None:
    url, _ = seeded
    with psycopg.connect(url) as conn:
        next_id = conn.execute("SELECT nextval(pg_get_serial_sequence('wallets_transaction', "
                               "'id'))").fetchone()
    assert next_id == (5_001,)


def test_api_keys_are_stored_as_sha256_with_their_prefix(seeded: tuple[str, object]) -> None:
    url, report = seeded
    keys: list[str] = report.api_keys  # type: ignore[attr-defined]
    assert len(keys) == 3
    with psycopg.connect(url) as conn:
        for merchant_id, raw in enumerate(keys, start=1):
            assert raw.startswith("ps_test_")
            row = conn.execute("SELECT merchant_id, prefix FROM accounts_apikey "
                               "WHERE key_hash = %s AND revoked_at IS NULL",
                               (hashlib.sha256(raw.encode()).hexdigest(),)).fetchone()
            assert row == (merchant_id, raw[:12])


def test_staff_user_can_log_in_with_the_given_password(migrated_database: Callable[[], str]) -> None:
    from django.contrib.auth.hashers import check_password

    url = migrated_database()
    seed(url, transactions=10, merchants=1, staff_password="s3cret-for-test", anchor=ANCHOR)
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT password, is_staff, is_active FROM auth_user "
                           "WHERE username = 'ops'").fetchone()
    assert row is not None
    assert row[1:] == (True, True)
    assert check_password("s3cret-for-test", row[0])
    assert not check_password("ops-dev-password", row[0])


def test_same_seed_gives_identical_tables_and_another_seed_does_not(
        migrated_database: Callable[[], str]) -> None:
    first, second, other = migrated_database(), migrated_database(), migrated_database()
    seed(first, transactions=3_000, merchants=2, seed=11, anchor=ANCHOR)
    seed(second, transactions=3_000, merchants=2, seed=11, anchor=ANCHOR, bulk_checks=True)
    seed(other, transactions=3_000, merchants=2, seed=12, anchor=ANCHOR)
    assert _checksums(first) == _checksums(second)
    assert _checksums(first)["wallets_transaction"] != _checksums(other)["wallets_transaction"]


def test_refuses_a_database_with_data_and_writes_nothing(seeded: tuple[str, object]) -> None:
    url, _ = seeded
    before = _checksums(url)
    with pytest.raises(SeedError, match=r"already has PayStream data.*reset=True"):
        seed(url, transactions=100, merchants=1, anchor=ANCHOR)
    assert _checksums(url) == before


def test_reset_replaces_the_data(seeded: tuple[str, object]) -> None:
    url, _ = seeded
    report = seed(url, transactions=200, merchants=1, anchor=ANCHOR, reset=True)
    assert _scalar(url, "SELECT count(*) FROM wallets_transaction") == 200
    assert _scalar(url, "SELECT min(id) FROM wallets_transaction") == 1
    assert report.counts["accounts_merchant"] == 1
    assert _scalar(url, "SELECT count(*) FROM auth_user WHERE username = 'ops'") == 1


def test_refuses_an_unmigrated_database(fresh_database: Callable[[str], str]) -> None:
    url = fresh_database("seed_empty")
    with pytest.raises(SeedError, match=r"not migrated.*migrate"):
        seed(url, transactions=10, merchants=1)


def test_bulk_checks_give_the_same_invariants(migrated_database: Callable[[], str]) -> None:
    url = migrated_database()
    report = seed(url, transactions=2_000, merchants=2, anchor=ANCHOR, bulk_checks=True)
    assert report.foreign_key_checks == "set-based"  # the test server's user is a superuser
    assert _scalar(url, "SELECT count(*) FROM wallets_wallet w WHERE w.balance <> coalesce(("
                        "SELECT balance_after FROM wallets_transaction t WHERE t.wallet_id = w.id "
                        "ORDER BY id DESC LIMIT 1), 0)") == 0
