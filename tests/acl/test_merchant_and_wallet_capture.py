"""Capture of merchants and API keys, and the wallet's updated_at on ledger events, on a real database.

Writes are plain SQL in the monolith's own order (the wallet row is saved before its
ledger row, see ``monolith.wallets.services.post``); the relay runs against the real
outbox with the fake publisher, the backfill against the same database.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC
from typing import Any

import psycopg

from acl.adapters.fakes import FakePublisher
from acl.adapters.pg_outbox import PgOutboxStore
from acl.backfill import backfill
from acl.contracts import ContractRegistry, load_contracts
from acl.envelope import parse_message
from acl.relay import PythonRelay
from tests.acl.helpers import first, open_wallet, seed_customer

CONTRACTS = ContractRegistry(load_contracts())
RAW_KEY = "ps_live_capture-test-raw-key-0123456789"


def monolith_credit(conn: psycopg.Connection[Any], wallet: int, paise: int) -> None:
    """As ``monolith.wallets.services.post``: lock, save the wallet (balance, updated_at), then the row."""
    with conn.transaction():
        balance = first(
            conn.execute("SELECT balance FROM wallets_wallet WHERE id = %s FOR UPDATE", (wallet,))
        )
        conn.execute(
            "UPDATE wallets_wallet SET balance = %s, updated_at = clock_timestamp() WHERE id = %s",
            (balance + paise, wallet),
        )
        conn.execute(
            "INSERT INTO wallets_transaction (wallet_id, txn_type, amount, balance_after, status, reference,"
            " description, created_at) VALUES (%s, 1, %s, %s, 1, '', '', clock_timestamp())",
            (wallet, paise, balance + paise),
        )


def issue_key(conn: psycopg.Connection[Any], merchant: int) -> int:
    return int(
        first(
            conn.execute(
                "INSERT INTO accounts_apikey (merchant_id, prefix, key_hash, created_at)"
                " VALUES (%s, %s, %s, now()) RETURNING id",
                (merchant, RAW_KEY[:12], hashlib.sha256(RAW_KEY.encode()).hexdigest()),
            )
        )
    )


def relay_all(db: str) -> list[dict[str, Any]]:
    publisher = FakePublisher()
    relay = PythonRelay(PgOutboxStore(db, 64), publisher, CONTRACTS)
    while relay.run_once():
        pass
    events = []
    for m in publisher.sent:
        event = parse_message(m.key, m.value, m.headers)
        events.append(
            {
                "type": event.get_type(),
                "key": m.key.decode(),
                "data": event.get_data(),
                "raw": m.value + b"".join(v for _, v in m.headers),
            }
        )
    return events


def test_merchant_and_key_writes_become_merchant_events_keyed_by_merchant(legacy_db: str) -> None:
    with psycopg.connect(legacy_db, autocommit=True) as conn:
        merchant, _ = seed_customer(conn)
        key = issue_key(conn, merchant)
        conn.execute("UPDATE accounts_apikey SET revoked_at = now() WHERE id = %s", (key,))
        conn.execute("UPDATE accounts_merchant SET is_active = false WHERE id = %s", (merchant,))
        conn.execute("UPDATE accounts_merchant SET name = 'Renamed' WHERE id = %s", (merchant,))
        lanes = conn.execute(
            "SELECT DISTINCT lane FROM strangler_acl.outbox WHERE aggregate_type = 'merchant'"
        ).fetchall()
    events = [e for e in relay_all(legacy_db) if e["type"].startswith("paystream.merchant.")]
    assert [(e["type"], e["key"]) for e in events] == [
        ("paystream.merchant.status_changed.v1", str(merchant)),
        ("paystream.merchant.api_key_issued.v1", str(merchant)),
        ("paystream.merchant.api_key_revoked.v1", str(merchant)),
        ("paystream.merchant.status_changed.v1", str(merchant)),
    ]
    assert [e["data"].get("active") for e in events] == [True, None, None, False]
    assert len(lanes) == 1, "a merchant's key changes share the merchant's ordering lane"


def test_no_raw_api_key_or_prefix_ever_reaches_a_published_message(legacy_db: str) -> None:
    with psycopg.connect(legacy_db, autocommit=True) as conn:
        merchant, _ = seed_customer(conn)
        issue_key(conn, merchant)
    events = relay_all(legacy_db)
    issued = [e for e in events if e["type"] == "paystream.merchant.api_key_issued.v1"]
    assert issued and issued[0]["data"]["key_hash"] == hashlib.sha256(RAW_KEY.encode()).hexdigest()
    for event in events:
        assert RAW_KEY.encode() not in event["raw"] and RAW_KEY[:12].encode() not in event["raw"]


def test_a_ledger_event_carries_the_wallet_updated_at_the_same_transaction_saved(legacy_db: str) -> None:
    with psycopg.connect(legacy_db, autocommit=True) as conn:
        merchant, user = seed_customer(conn)
        wallet = open_wallet(conn, merchant, user)
        monolith_credit(conn, wallet, 500)
        first_updated = first(conn.execute("SELECT updated_at FROM wallets_wallet WHERE id = %s", (wallet,)))
        monolith_credit(conn, wallet, 700)
        second_updated = first(conn.execute("SELECT updated_at FROM wallets_wallet WHERE id = %s", (wallet,)))
    credited = [e["data"] for e in relay_all(legacy_db) if e["type"] == "paystream.wallet.credited.v1"]
    expected = [t.astimezone(UTC).isoformat().replace("+00:00", "Z") for t in (first_updated, second_updated)]
    assert [c["wallet_updated_at"] for c in credited] == expected
    assert credited[0]["wallet_updated_at"] != credited[0]["posted_at"], "a fact the row alone lacks"


def test_backfill_dates_only_each_wallets_newest_entry_with_its_current_updated_at(
    legacy_db_factory: Any,
) -> None:
    db = legacy_db_factory(False)  # history written before capture existed
    with psycopg.connect(db, autocommit=True) as conn:
        merchant, user = seed_customer(conn)
        wallet = open_wallet(conn, merchant, user)
        for paise in (100, 200, 300):
            monolith_credit(conn, wallet, paise)
        updated = first(conn.execute("SELECT updated_at FROM wallets_wallet WHERE id = %s", (wallet,)))
        from acl.install import install

        install(db)
    publisher = FakePublisher()
    assert backfill(db, "wallets_transaction", publisher, CONTRACTS) == 3
    data = [json.loads(m.value) for m in publisher.sent]
    assert [d.get("wallet_updated_at") for d in data] == [
        None,
        None,
        updated.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    ]
    assert backfill(db, "accounts_apikey", FakePublisher(), CONTRACTS) == 0  # captured tables all backfill
