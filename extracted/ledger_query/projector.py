"""Adapter: writes the domain's ledger effects with SQL, inside the consumer's inbox transaction.

Every write is idempotent on its own (``ON CONFLICT``) as well as through the inbox,
because the ACL backfill re-publishes history under snapshot event ids that the
inbox has not seen: a movement already applied live must not post twice. A
transaction older than the wallet's newest one (backfill arriving after live
traffic) is recorded but does not move the cached balance.

A batch's postings go in set-based statements (``apply_all``): one statement per
*round*, where round k holds each wallet's k-th posting of a run of consecutive
postings, so every statement touches a wallet once and each wallet still sees its
postings in order, exactly as one statement per posting would leave it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from extracted.ledger_query import domain as d


def apply(tx: Any, effects: list[d.Effect], committed_at: datetime | None) -> None:
    """Apply ``effects`` on the psycopg connection ``tx`` and advance the freshness mark."""
    for effect in effects:
        _APPLY[type(effect)](tx, effect)
    mark_newest(tx, committed_at)


def apply_all(tx: Any, effects: Sequence[d.Effect]) -> None:
    """Apply ``effects`` in order, consecutive postings set-based (see the module docstring)."""
    wallets = sorted({e.wallet_id for e in effects if isinstance(e, d.PostTransaction)})
    if len(wallets) > 1:
        # every wallet this batch moves, locked up front in id order, as the write path's
        # transfers lock theirs: a multi-row UPDATE locks in join order and could deadlock them
        tx.execute("SELECT 1 FROM ledger_wallet WHERE wallet_id = ANY(%s) ORDER BY wallet_id FOR UPDATE",
                   (wallets,))
    run: list[d.PostTransaction] = []
    for effect in effects:
        if isinstance(effect, d.PostTransaction):
            run.append(effect)
            continue
        _post_run(tx, run)
        run = []
        _APPLY[type(effect)](tx, effect)
    _post_run(tx, run)


def rounds(postings: Sequence[d.PostTransaction]) -> list[list[d.PostTransaction]]:
    """Pure: round k = every wallet's k-th posting, in the order given."""
    out: list[list[d.PostTransaction]] = []
    depth: dict[int, int] = {}
    for posting in postings:
        k = depth.get(posting.wallet_id, 0)
        depth[posting.wallet_id] = k + 1
        if k == len(out):
            out.append([])
        out[k].append(posting)
    return out


def mark_newest(tx: Any, committed_at: datetime | None) -> None:
    """Advance the freshness mark to ``committed_at`` (once per batch is enough: it only grows)."""
    if committed_at is not None:
        tx.execute(
            "UPDATE ledger_sync_state SET newest_event_at = greatest(newest_event_at, %s) WHERE id = 1",
            (committed_at,),
        )


def _open(tx: Any, e: d.OpenWallet) -> None:
    tx.execute(
        "INSERT INTO ledger_wallet (wallet_id, merchant_id, customer_id, currency, status, limits_locked,"
        " balance, last_transaction_id, opened_at, updated_at)"
        " VALUES (%s, %s, %s, %s, %s,"
        "  NOT EXISTS (SELECT 1 FROM ledger_customer c WHERE c.customer_id = %s"
        "              AND c.kyc_verified_at IS NOT NULL),"
        "  0, NULL, %s, %s) ON CONFLICT (wallet_id) DO NOTHING",
        (e.wallet_id, e.merchant_id, e.customer_id, e.currency, e.status, e.customer_id,
         e.opened_at, e.opened_at),
    )


def _post(tx: Any, e: d.PostTransaction) -> None:
    # One statement, one round trip: the entries and the balance move only if the transaction
    # row is new (already posted live, then again from a backfill snapshot: nothing happens).
    # With the wallet's own updated_at (live events) the balance shows exactly the monolith's;
    # without it (older events, backfilled history) the posting time is the nearest fact.
    legs = ", ".join(["(%s, %s, %s::numeric, %s)"] * len(e.legs))
    tx.execute(
        "WITH t AS (INSERT INTO ledger_transaction (id, wallet_id, kind, amount, currency, status, reference,"
        "  description, counterparty_wallet_id, balance_after, created_at)"
        "  VALUES (%s, %s, %s, %s, %s, 'posted', %s, %s, %s, %s, %s)"
        "  ON CONFLICT (id) DO NOTHING RETURNING id),"
        " e AS (INSERT INTO ledger_entry (transaction_id, leg, account, amount, currency)"
        f"  SELECT t.id, v.leg, v.account, v.amount, v.currency FROM t, (VALUES {legs})"
        "  AS v (leg, account, amount, currency))"
        " UPDATE ledger_wallet SET balance = %s, last_transaction_id = %s,"
        " updated_at = coalesce(%s, greatest(updated_at, %s))"
        " WHERE wallet_id = %s AND ((coalesce(last_transaction_id, 0) < %s AND EXISTS (SELECT 1 FROM t))"
        # A backfill that copied this row first (a write during the hand-over) could only guess
        # the wallet's updated_at; the live event knows it, so it still sets it on the newest row.
        "  OR (last_transaction_id = %s AND %s::timestamptz IS NOT NULL))",
        (e.transaction_id, e.wallet_id, e.kind, e.amount, e.currency, e.reference, e.description,
         e.counterparty_wallet_id, e.balance_after, e.posted_at,
         *(v for leg in e.legs for v in (leg.leg, leg.account, leg.amount, leg.currency)),
         e.balance_after, e.transaction_id, e.wallet_updated_at, e.posted_at, e.wallet_id,
         e.transaction_id, e.transaction_id, e.wallet_updated_at),
    )


# _post for many postings of distinct wallets, in one statement: the same conditions row by row
_POST_MANY = (
    "WITH v AS (SELECT * FROM unnest(%(id)s::bigint[], %(wallet)s::bigint[], %(kind)s::text[],"
    "  %(amount)s::numeric[], %(currency)s::text[], %(reference)s::text[], %(description)s::text[],"
    "  %(counterparty)s::bigint[], %(balance_after)s::numeric[], %(posted_at)s::timestamptz[],"
    "  %(wallet_updated_at)s::timestamptz[]) AS v (id, wallet_id, kind, amount, currency, reference,"
    "  description, counterparty_wallet_id, balance_after, posted_at, wallet_updated_at)),"
    " t AS (INSERT INTO ledger_transaction (id, wallet_id, kind, amount, currency, status, reference,"
    "  description, counterparty_wallet_id, balance_after, created_at)"
    "  SELECT id, wallet_id, kind, amount, currency, 'posted', reference, description,"
    "  counterparty_wallet_id, balance_after, posted_at FROM v"
    "  ON CONFLICT (id) DO NOTHING RETURNING id),"
    " e AS (INSERT INTO ledger_entry (transaction_id, leg, account, amount, currency)"
    "  SELECT l.transaction_id, l.leg, l.account, l.amount, l.currency"
    "  FROM unnest(%(leg_txn)s::bigint[], %(leg)s::text[], %(account)s::text[], %(leg_amount)s::numeric[],"
    "  %(leg_currency)s::text[]) WITH ORDINALITY AS l (transaction_id, leg, account, amount, currency, n)"
    "  JOIN t ON t.id = l.transaction_id ORDER BY l.n)"
    " UPDATE ledger_wallet w SET balance = v.balance_after, last_transaction_id = v.id,"
    " updated_at = coalesce(v.wallet_updated_at, greatest(w.updated_at, v.posted_at))"
    " FROM v WHERE w.wallet_id = v.wallet_id"
    " AND ((coalesce(w.last_transaction_id, 0) < v.id AND v.id IN (SELECT id FROM t))"
    "  OR (w.last_transaction_id = v.id AND v.wallet_updated_at IS NOT NULL))"
)


def _post_run(tx: Any, run: Sequence[d.PostTransaction]) -> None:
    if len(run) == 1:
        _post(tx, run[0])
        return
    for postings in rounds(run):
        legs = [leg for p in postings for leg in p.legs]
        tx.execute(_POST_MANY, {
            "id": [p.transaction_id for p in postings],
            "wallet": [p.wallet_id for p in postings],
            "kind": [p.kind for p in postings],
            "amount": [p.amount for p in postings],
            "currency": [p.currency for p in postings],
            "reference": [p.reference for p in postings],
            "description": [p.description for p in postings],
            "counterparty": [p.counterparty_wallet_id for p in postings],
            "balance_after": [p.balance_after for p in postings],
            "posted_at": [p.posted_at for p in postings],
            "wallet_updated_at": [p.wallet_updated_at for p in postings],
            "leg_txn": [p.transaction_id for p in postings for _ in p.legs],
            "leg": [leg.leg for leg in legs],
            "account": [leg.account for leg in legs],
            "leg_amount": [leg.amount for leg in legs],
            "leg_currency": [leg.currency for leg in legs],
        })


def _status(tx: Any, e: d.ChangeWalletStatus) -> None:
    tx.execute(
        "UPDATE ledger_wallet SET status = %s, updated_at = greatest(updated_at, %s) WHERE wallet_id = %s",
        (e.status, e.changed_at, e.wallet_id),
    )


def _verify(tx: Any, e: d.VerifyCustomer) -> None:
    # the customer row makes wallets opened later start unlocked; the monolith's unlock is an
    # update() that leaves wallets' updated_at alone, so this does too
    tx.execute(
        "INSERT INTO ledger_customer (customer_id, kyc_verified_at) VALUES (%s, %s)"
        " ON CONFLICT (customer_id) DO UPDATE SET kyc_verified_at ="
        " coalesce(ledger_customer.kyc_verified_at, EXCLUDED.kyc_verified_at)",
        (e.customer_id, e.verified_at),
    )
    tx.execute("UPDATE ledger_wallet SET limits_locked = false WHERE customer_id = %s AND limits_locked",
               (e.customer_id,))


def _issue_key(tx: Any, e: d.IssueApiKey) -> None:
    tx.execute(
        "INSERT INTO ledger_api_key (key_id, merchant_id, key_hash, issued_at, revoked_at)"
        " VALUES (%s, %s, %s, %s, NULL) ON CONFLICT (key_id) DO NOTHING",
        (e.key_id, e.merchant_id, e.key_hash, e.issued_at),
    )


def _revoke_key(tx: Any, e: d.RevokeApiKey) -> None:
    tx.execute("UPDATE ledger_api_key SET revoked_at = coalesce(revoked_at, %s) WHERE key_id = %s",
               (e.revoked_at, e.key_id))


def _merchant_status(tx: Any, e: d.ChangeMerchantStatus) -> None:
    tx.execute(
        "INSERT INTO ledger_merchant (merchant_id, active, changed_at) VALUES (%s, %s, %s)"
        " ON CONFLICT (merchant_id) DO UPDATE SET active = EXCLUDED.active, changed_at = EXCLUDED.changed_at"
        " WHERE ledger_merchant.changed_at <= EXCLUDED.changed_at",
        (e.merchant_id, e.active, e.changed_at),
    )


_APPLY: dict[type, Any] = {
    d.OpenWallet: _open,
    d.PostTransaction: _post,
    d.ChangeWalletStatus: _status,
    d.VerifyCustomer: _verify,
    d.IssueApiKey: _issue_key,
    d.RevokeApiKey: _revoke_key,
    d.ChangeMerchantStatus: _merchant_status,
}
