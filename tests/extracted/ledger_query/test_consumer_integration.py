"""The ledger projector against its real database and the real broker (Tansu), through the ACL consumer."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from extracted.ledger_query.consume import DEAD_LETTER_TOPIC, LedgerConsumer, build
from tests.acl.helpers import wait_until
from tests.extracted.ledger_query.events import dead_letters, message, publish


@pytest.fixture
def running(ledger_db: str, kafka_bootstrap: str) -> Iterator[LedgerConsumer]:
    ledger = build(ledger_db, kafka_bootstrap, group=f"ledger-{uuid.uuid4().hex[:8]}", max_attempts=2)
    stop = threading.Event()
    thread = threading.Thread(target=ledger.run, args=(stop,), daemon=True)
    thread.start()
    yield ledger
    stop.set()
    thread.join(30)


def rows(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def opened(wallet: int, customer: int) -> dict[str, Any]:
    return {
        "wallet_id": str(wallet),
        "customer_id": str(customer),
        "merchant_id": "1",
        "currency": "INR",
        "status": "active",
        "opened_at": "2026-01-01T00:00:00.000001Z",
    }


def moved(wallet: int, entry: int, kind: str, amount: str, after: str) -> dict[str, Any]:
    return {
        "wallet_id": str(wallet),
        "entry_id": str(entry),
        "kind": kind,
        "amount": {"amount": amount, "currency": "INR"},
        "balance_after": {"amount": after, "currency": "INR"},
        "reference": None,
        "description": None,
        "counterparty_wallet_id": None,
        "posted_at": f"2026-01-01T00:00:{entry % 60:02d}.5Z",
    }


def test_events_build_a_balanced_ledger_once_despite_redelivery_and_backfill_replays(
    running: LedgerConsumer, ledger_db: str, kafka_bootstrap: str
) -> None:
    wallet, customer, base = (random.randrange(10**9, 10**12) for _ in range(3))
    w = str(wallet)
    credit = message(
        "paystream.wallet.credited.v1", "wallet", w, moved(wallet, base + 1, "credit", "100.50", "100.50")
    )
    publish(
        kafka_bootstrap,
        [
            # KYC on its own topic may arrive before or after the wallet; both orders converge
            message(
                "paystream.kyc.verified.v1",
                "customer",
                str(customer),
                {
                    "submission_id": "1",
                    "customer_id": str(customer),
                    "document_type": "pan",
                    "verified_at": "2026-01-01T00:00:00Z",
                },
            ),
            message("paystream.wallet.opened.v1", "wallet", w, opened(wallet, customer)),
            credit,
            message(
                "paystream.wallet.debited.v1", "wallet", w, moved(wallet, base + 2, "debit", "0.50", "100.00")
            ),
            credit,  # redelivered: same event id
            # a backfill snapshot of the same legacy row: a new event id for the same movement
            message(
                "paystream.wallet.credited.v1",
                "wallet",
                w,
                moved(wallet, base + 1, "credit", "100.50", "100.50"),
            ),
        ],
    )
    wait_until(
        lambda: (
            rows(ledger_db, "SELECT count(*) FROM ledger_transaction WHERE wallet_id = %s", wallet)[0][0] == 2
            and rows(ledger_db, "SELECT count(*) FROM strangler_inbox.inbox")[0][0] >= 5
        ),
        30,
        "the ledger to apply the wallet's events",
    )
    wait_until(
        lambda: (
            rows(ledger_db, "SELECT limits_locked FROM ledger_wallet WHERE wallet_id = %s", wallet)
            == [(False,)]
        ),
        30,
        "the KYC unlock",
    )
    assert rows(ledger_db, "SELECT balance, status FROM ledger_wallet WHERE wallet_id = %s", wallet) == [
        (Decimal("100.00"), "active")
    ]
    assert rows(
        ledger_db, "SELECT id, kind, amount FROM ledger_transaction WHERE wallet_id = %s ORDER BY id", wallet
    ) == [(base + 1, "credit", Decimal("100.50")), (base + 2, "debit", Decimal("-0.50"))]
    entries = rows(
        ledger_db,
        "SELECT transaction_id, leg, account, amount FROM ledger_entry"
        " WHERE transaction_id IN (%s, %s) ORDER BY transaction_id, leg",
        base + 1,
        base + 2,
    )
    assert [(e[1], e[2]) for e in entries] == [
        ("contra", "contra:credit"),
        ("wallet", f"wallet:{w}"),
        ("contra", "contra:debit"),
        ("wallet", f"wallet:{w}"),
    ]
    assert sum(e[3] for e in entries) == 0
    wait_until(
        lambda: rows(
            ledger_db,
            "SELECT newest_event_at IS NOT NULL AND caught_up_at IS NOT NULL FROM ledger_sync_state",
        )[0][0],
        30,
        "the freshness marks",
    )


def test_bad_contract_and_unknown_version_are_dead_lettered_with_the_reason_and_the_consumer_goes_on(
    running: LedgerConsumer, ledger_db: str, kafka_bootstrap: str
) -> None:
    wallet = random.randrange(10**9, 10**12)
    w = str(wallet)
    broken = moved(wallet, wallet, "credit", "1.00", "1.00")
    broken["amount"] = {"amount": "1.00"}  # no currency: fails the v1 contract
    bad = message("paystream.wallet.credited.v1", "wallet", w, broken)
    future = message(
        "paystream.wallet.credited.v9", "wallet", w, moved(wallet, wallet, "credit", "1.00", "1.00")
    )
    publish(
        kafka_bootstrap,
        [
            message("paystream.wallet.opened.v1", "wallet", w, opened(wallet, 1)),
            bad,
            future,
            message(
                "paystream.wallet.credited.v1",
                "wallet",
                w,
                moved(wallet, wallet + 1, "credit", "2.00", "2.00"),
            ),
        ],
    )
    wait_until(
        lambda: (
            rows(ledger_db, "SELECT balance FROM ledger_wallet WHERE wallet_id = %s", wallet)
            == [(Decimal("2.00"),)]
        ),
        60,
        "the good event after the bad ones",
    )
    found = dead_letters(kafka_bootstrap, DEAD_LETTER_TOPIC, {bad.event_id, future.event_id})
    assert "amount: 'currency' is a required property" in found[bad.event_id]["dlq_error"]
    assert "no contract declared" in found[future.event_id]["dlq_error"]
    assert rows(ledger_db, "SELECT count(*) FROM ledger_transaction WHERE id = %s", wallet) == [(0,)]
