"""Adapter: the write path's SQL on the ledger's database (through Django's connection).

Every function runs inside the caller's ``transaction.atomic`` on ``alias()``: the
caller locks the wallets (``SELECT ... FOR UPDATE``, several in wallet-id order so two
opposite transfers queue instead of deadlocking), decides on the locked rows, and
posts. The projector's balance update takes the same row lock, so a posting here and
an event applied there serialise too.

A posting writes the ``ledger_transaction`` row, its two ``ledger_entry`` legs, the
wallet's cached balance, and the ``ledger_write_event`` row announcing it — one
transaction, so there is never a posting without its event or the reverse.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from django.db import connections, router

from extracted.ledger_query import fence
from extracted.ledger_query import write_rules as rules
from extracted.ledger_query.domain import minor_units
from extracted.ledger_query.ledger.models import LedgerWallet

WRITE_ID_BASE = 10**15  # first id of ledger_write_txn_id_seq (migration 0004)


def alias() -> str:
    """The database alias of the ledger's tables (``default`` in the service's own settings)."""
    return router.db_for_write(LedgerWallet) or "default"


def _cursor() -> Any:
    return connections[alias()].cursor()


_WALLET = ("SELECT wallet_id, merchant_id, currency, status, limits_locked, balance FROM ledger_wallet"
           " WHERE merchant_id = coalesce(%s, merchant_id) AND wallet_id = %s")


def _state(row: Any) -> rules.WalletState:
    wallet_id, merchant_id, currency, status, limits_locked, balance = row
    return rules.WalletState(wallet_id, merchant_id, currency, status, limits_locked,
                             minor_units(balance, currency))


def wallet(merchant_id: int | None, wallet_id: int, *, lock: bool = False) -> rules.WalletState | None:
    """The merchant's wallet (locked if asked), or None: another merchant's is as absent.

    ``merchant_id=None`` (the monolith's ledger port, a trusted service) finds any merchant's.
    """
    with _cursor() as cursor:
        cursor.execute(_WALLET + (" FOR UPDATE" if lock else ""), [merchant_id, wallet_id])
        row = cursor.fetchone()
    return None if row is None else _state(row)


def record_posting(posting: rules.Posting, *, wallet_updated_at: datetime, created_at: datetime,
                   correlation_id: str | None) -> tuple[int, tuple[str, dict[str, Any]]]:
    """Write ``posting`` (its wallet locked by the caller); returns its id and its event."""
    signed = posting.amount if posting.inbound else -posting.amount
    amount = rules.to_major(signed, posting.currency)
    balance_after = rules.to_major(posting.balance_after, posting.currency)
    with _cursor() as cursor:
        cursor.execute("SELECT nextval('ledger_write_txn_id_seq')")
        (transaction_id,) = cursor.fetchone()
        event = rules.event_of(posting, transaction_id, created_at, wallet_updated_at)
        cursor.execute(
            "INSERT INTO ledger_transaction (id, wallet_id, kind, amount, currency, status, reference,"
            " description, counterparty_wallet_id, balance_after, created_at)"
            " VALUES (%s, %s, %s, %s, %s, 'posted', %s, %s, %s, %s, %s)",
            [transaction_id, posting.wallet_id, posting.kind, amount, posting.currency,
             posting.reference, posting.description, posting.counterparty_wallet_id, balance_after,
             created_at],
        )
        cursor.execute(
            "INSERT INTO ledger_entry (transaction_id, leg, account, amount, currency)"
            " VALUES (%s, 'wallet', %s, %s, %s), (%s, 'contra', %s, %s, %s)",
            [transaction_id, f"wallet:{posting.wallet_id}", amount, posting.currency,
             transaction_id, f"contra:{posting.kind}", -amount, posting.currency],
        )
        cursor.execute(
            "UPDATE ledger_wallet SET balance = %s, last_transaction_id = %s, updated_at = %s"
            " WHERE wallet_id = %s",
            [balance_after, transaction_id, wallet_updated_at, posting.wallet_id],
        )
        cursor.execute(
            "INSERT INTO ledger_write_event (transaction_id, wallet_id, event_type, data, correlation_id)"
            " VALUES (%s, %s, %s, %s::jsonb, %s)",
            [transaction_id, posting.wallet_id, event[0], json.dumps(event[1]), correlation_id],
        )
        if correlation_id:
            # read-your-writes: a read the proxy fences behind this request is answerable at once
            fence.record(cursor, {(correlation_id, posting.wallet_id): True})
    return int(transaction_id), event


class WritesHeld(Exception):
    """The gate did not open in time: ``state`` ``held`` (a hand-over) or ``closed`` (the monolith writes)."""

    def __init__(self, state: str, reason: str, waited_s: float) -> None:
        super().__init__(state)
        self.state, self.reason, self.waited_s = state, reason, waited_s


_GATE = "SELECT state, reason, hold_wait_ms FROM ledger_write_gate WHERE id = 1"
GATE_POLL_SECONDS = 0.05


def pass_gate(*, wait: bool = True) -> None:
    """First thing in a write transaction: return once the gate is open, or raise ``WritesHeld``.

    While the gate is ``held`` the write waits (unlocked reads, each statement sees the newest
    commit) up to the gate's ``hold_wait_ms``; ``closed`` is refused at once. Once open, the row
    is taken ``FOR SHARE`` for the rest of the transaction: a hold (``handover.hold_writes``
    updates the row) waits for every write that passed the gate to commit, and every write
    that comes after the hold sees it. Writes do not block one another. ``wait=False``: a
    write that is not let through at once is refused at once.
    """
    started = time.monotonic()
    with _cursor() as cursor:
        while True:
            cursor.execute(_GATE)
            row = cursor.fetchone()
            if row is None:
                return  # no gate row: a database migrated before the gate existed writes as before
            state, reason, wait_ms = str(row[0]), str(row[1]), int(row[2])
            if state == "open":
                cursor.execute(_GATE + " FOR SHARE")
                locked = cursor.fetchone()
                if locked is None or locked[0] == "open":
                    return
                state, reason, wait_ms = str(locked[0]), str(locked[1]), int(locked[2])
            waited = time.monotonic() - started
            if state == "closed" or not wait or waited >= wait_ms / 1000:
                raise WritesHeld(state, reason, waited)
            time.sleep(GATE_POLL_SECONDS)


def is_write_path_posting(transaction_id: int) -> bool:
    """True for a posting this write path made (never one projected from a monolith event)."""
    with _cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM ledger_write_event WHERE transaction_id = %s)",
                       [transaction_id])
        return bool(cursor.fetchone()[0])


# -- Idempotency-Key records (the monolith's execute_once, on this database's table) ---------

_CLAIM = ("INSERT INTO ledger_idempotency (merchant_id, key, request_hash) VALUES (%s, %s, %s)"
          " ON CONFLICT (merchant_id, key) DO NOTHING RETURNING merchant_id")
_STORED = ("SELECT request_hash, response_status, response_body FROM ledger_idempotency"
           " WHERE merchant_id = %s AND key = %s")
_SAVE = ("UPDATE ledger_idempotency SET response_status = %s, response_body = %s"
         " WHERE merchant_id = %s AND key = %s")


def claim_key(merchant_id: int, key: str, fingerprint: str) -> tuple[str, int | None, bytes | None] | None:
    """Claim (merchant, key) in the caller's transaction; None if claimed, else what is stored.

    A concurrent claim of the same key blocks on the insert until the first transaction
    ends: it then sees the stored response (committed) or claims the key itself (rolled back).
    """
    with _cursor() as cursor:
        cursor.execute(_CLAIM, [merchant_id, key, fingerprint])
        if cursor.fetchone() is not None:
            return None
        cursor.execute(_STORED, [merchant_id, key])
        stored_hash, status, body = cursor.fetchone()
    return str(stored_hash), None if status is None else int(status), None if body is None else bytes(body)


def save_response(merchant_id: int, key: str, status: int, body: bytes) -> None:
    with _cursor() as cursor:
        cursor.execute(_SAVE, [status, body, merchant_id, key])
