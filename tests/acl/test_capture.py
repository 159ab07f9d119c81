"""Capture: every write path lands in the outbox in the writer's transaction, with its correlation id."""

from __future__ import annotations

import json
import threading
from typing import Any

import psycopg
import pytest
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from acl.adapters.pg_outbox import PgOutboxStore
from acl.django import CorrelationMiddleware, correlation, install_celery_hooks
from acl.install import install
from monolith.accounts.models import Merchant, User
from monolith.common.middleware import RequestIdMiddleware
from monolith.wallets.models import Transaction, Wallet
from tests.acl.helpers import credit, first, open_wallet, seed_customer, wait_until

pytestmark = pytest.mark.usefixtures("django_capture")


def outbox(since: int = 0) -> list[tuple[Any, ...]]:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT id, table_name, op, before, after, correlation_id FROM strangler_acl.outbox"
            " WHERE id > %s ORDER BY id",
            [since],
        )
        # Django's cursor hands jsonb back as text
        return [(r[0], r[1], r[2], _json(r[3]), _json(r[4]), r[5]) for r in cur.fetchall()]


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def high_water() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT coalesce(max(id), 0) FROM strangler_acl.outbox")
        return int(first(cur))


@pytest.fixture
def wallet(db: None) -> Wallet:
    merchant = Merchant.objects.create(name="M", email="m@example.com")
    user = User.objects.create(merchant=merchant, external_ref="c1", full_name="Asha")
    return Wallet.objects.create(merchant=merchant, user=user)


def test_orm_save_is_captured_with_the_after_image(db: None) -> None:
    merchant = Merchant.objects.create(name="M", email="m@example.com")
    mark = high_water()  # merchants are captured too; this test looks at the user's row
    user = User.objects.create(merchant=merchant, external_ref="c1", full_name="Asha")
    [row] = outbox(mark)
    assert row[1:3] == ("accounts_user", "INSERT")
    assert row[3] is None and row[4]["id"] == user.pk and row[4]["full_name"] == "Asha"


def test_queryset_update_is_captured_per_row_with_before_and_after(wallet: Wallet) -> None:
    mark = high_water()
    Wallet.objects.filter(pk=wallet.pk).update(status=2)
    [row] = outbox(mark)
    assert row[1:3] == ("wallets_wallet", "UPDATE")
    assert (row[3]["status"], row[4]["status"]) == (1, 2)


def test_bulk_create_is_captured_row_by_row(wallet: Wallet) -> None:
    mark = high_water()
    Transaction.objects.bulk_create(
        [Transaction(wallet=wallet, txn_type=1, amount=100 * i, balance_after=0) for i in range(1, 4)]
    )
    rows = outbox(mark)
    assert [(r[1], r[2], r[4]["amount"]) for r in rows] == [
        ("wallets_transaction", "INSERT", a) for a in (100, 200, 300)
    ]


def test_raw_sql_through_the_django_cursor_and_delete_are_captured(wallet: Wallet) -> None:
    mark = high_water()
    with connection.cursor() as cur:
        cur.execute("UPDATE wallets_wallet SET balance = balance + 5 WHERE id = %s", [wallet.pk])
    Transaction.objects.create(wallet=wallet, txn_type=1, amount=5, balance_after=5).delete()
    assert [(r[1], r[2]) for r in outbox(mark)] == [
        ("wallets_wallet", "UPDATE"),
        ("wallets_transaction", "INSERT"),
        ("wallets_transaction", "DELETE"),
    ]


def test_a_rolled_back_orm_transaction_leaves_nothing_in_the_outbox(wallet: Wallet) -> None:
    mark = high_water()
    with pytest.raises(RuntimeError), transaction.atomic():
        Wallet.objects.filter(pk=wallet.pk).update(balance=99)
        raise RuntimeError("business rule failed")
    assert outbox(mark) == []


def test_the_request_id_reaches_the_captured_row_and_is_cleared_after_the_response(db: None) -> None:
    def view(request: HttpRequest) -> HttpResponse:
        Merchant.objects.create(name="via http", email="m@example.com")
        merchant = Merchant.objects.get(name="via http")
        User.objects.create(merchant=merchant, external_ref="h1", full_name="Http")
        return HttpResponse("ok")

    mark = high_water()
    chain = RequestIdMiddleware(CorrelationMiddleware(view))
    response = chain(RequestFactory().post("/x", HTTP_X_REQUEST_ID="req-abc-123"))
    assert response["X-Request-ID"] == "req-abc-123"
    assert [r[5] for r in outbox(mark)] == ["req-abc-123", "req-abc-123"]  # merchant, user
    with connection.cursor() as cur:
        cur.execute("SELECT current_setting('strangler.correlation_id', true)")
        assert first(cur) == ""
    Merchant.objects.create(name="after", email="m@example.com")
    User.objects.create(merchant=Merchant.objects.get(name="after"), external_ref="h2", full_name="Later")
    assert outbox(mark)[-1][5] is None


def test_celery_tasks_are_captured_with_their_task_id(db: None) -> None:
    from celery import Celery
    from celery.signals import task_postrun, task_prerun

    install_celery_hooks(Celery("t"))
    mark = high_water()
    task_prerun.send(sender=None, task_id="task-77", task=None)
    try:
        merchant = Merchant.objects.create(name="job", email="m@example.com")
        User.objects.create(merchant=merchant, external_ref="j1", full_name="Job")
    finally:
        task_postrun.send(sender=None, task_id="task-77", task=None)
    assert [r[5] for r in outbox(mark)] == ["task-77", "task-77"]  # merchant, user


def test_correlation_block_applies_to_a_connection_opened_inside_it(db: None) -> None:
    mark = high_water()
    with correlation("cid-9"):
        merchant = Merchant.objects.create(name="cid", email="m@example.com")
        User.objects.create(merchant=merchant, external_ref="k1", full_name="K")
    assert [r[5] for r in outbox(mark)] == ["cid-9", "cid-9"]  # merchant, user


# ---- plain SQL sessions on a committed database (what psql would do) ------------------------------------


def test_install_is_idempotent_and_a_psql_style_session_is_captured_at_commit(legacy_db: str) -> None:
    install(legacy_db)  # second run: no error, no duplicate triggers
    with psycopg.connect(legacy_db, autocommit=True) as conn:
        conn.execute("SELECT set_config('strangler.correlation_id', 'psql-ops', false)")
        merchant, user = seed_customer(conn)
        wallet = open_wallet(conn, merchant, user)
        credit(conn, wallet, 500)
        rows = conn.execute(
            "SELECT o.table_name, o.op, o.correlation_id, t.commit_seq IS NOT NULL"
            " FROM strangler_acl.outbox o LEFT JOIN strangler_acl.tx_commit t USING (txid)"
            " ORDER BY o.id"
        ).fetchall()
        triggers = conn.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgname = 'strangler_acl_capture'"
        ).fetchone()
    assert triggers == (7,)
    assert rows == [
        ("accounts_merchant", "INSERT", "psql-ops", True),
        ("accounts_user", "INSERT", "psql-ops", True),
        ("wallets_wallet", "INSERT", "psql-ops", True),
        ("wallets_transaction", "INSERT", "psql-ops", True),
        ("wallets_wallet", "UPDATE", "psql-ops", True),
    ]


def test_rolled_back_sql_transaction_captures_nothing(legacy_db: str) -> None:
    with psycopg.connect(legacy_db) as conn:
        seed_customer(conn)
        conn.rollback()
        assert conn.execute("SELECT count(*) FROM strangler_acl.outbox").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM strangler_acl.tx_commit").fetchone() == (0,)


def test_relay_order_is_commit_order_when_a_later_committer_wrote_first(legacy_db: str) -> None:
    """T2 writes a ledger row (lower outbox id), then waits for T1's wallet lock; T1 commits first.

    The relay must read T1's changes before T2's, although T2's first row has the smaller id.
    """
    with psycopg.connect(legacy_db, autocommit=True) as setup:
        merchant, user = seed_customer(setup)
        wallet = open_wallet(setup, merchant, user)
        setup.execute("UPDATE strangler_acl.outbox SET handled_at = now(), outcome = 'published'")
    t1, t2 = psycopg.connect(legacy_db), psycopg.connect(legacy_db)
    ledger = (
        "INSERT INTO wallets_transaction (wallet_id, txn_type, amount, balance_after, status, reference,"
        " description, created_at) VALUES (%s, 1, %s, 0, 1, %s, '', now())"
    )
    t2.execute(ledger, (wallet, 2, "t2"))
    t1.execute(ledger, (wallet, 1, "t1"))
    t1.execute("UPDATE wallets_wallet SET balance = balance + 1 WHERE id = %s", (wallet,))

    def t2_finishes() -> None:
        t2.execute("UPDATE wallets_wallet SET balance = balance + 2 WHERE id = %s", (wallet,))  # blocks on T1
        t2.commit()

    blocked = threading.Thread(target=t2_finishes)
    blocked.start()
    with psycopg.connect(legacy_db, autocommit=True) as probe:
        wait_until(
            lambda: (
                first(
                    probe.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        " AND datname = current_database()"
                    )
                )
                == 1
            ),
            10,
            "T2 to block",
        )
    t1.commit()
    blocked.join(10)
    t1.close()
    t2.close()
    store = PgOutboxStore(legacy_db)
    try:
        with store.claim(100) as batch:
            order = [
                (
                    p.change.table,
                    (p.change.after or {}).get("reference") or (p.change.after or {}).get("balance"),
                )
                for p in batch.changes
            ]
    finally:
        store.close()
    assert order == [
        ("wallets_transaction", "t1"),
        ("wallets_wallet", 1),
        ("wallets_transaction", "t2"),
        ("wallets_wallet", 3),
    ]
