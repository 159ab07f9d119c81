"""Legacy row images -> ledger effects: the live path's own translation, applied to history. Pure.

A legacy ``wallets_transaction`` row goes through the ACL translator (as a SNAPSHOT
change with the wallet's currency as context, exactly what the capture trigger
supplies) and then through the ledger's ``decide``: the backfill cannot drift from
the events the ledger consumes, because it *is* that code. Only the SQL that writes
the result differs (COPY and a set-based merge instead of one row at a time).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from acl.domain import Change
from acl.errors import AclError
from acl.translators import translate
from extracted.ledger_query import domain
from extracted.ledger_query.errors import UnsupportedEvent

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class RowRefused(ValueError):
    """A legacy row the translators or the ledger refuse; ``reason`` says why."""


def effects_of(table: str, row: dict[str, Any], context: dict[str, Any]) -> list[domain.Effect]:
    """The ledger effects of one legacy row image (``to_jsonb`` of the row)."""
    change = Change(f"backfill:{table}:{row.get('id')}", table, "SNAPSHOT", None, row, _EPOCH,
                    None, None, context)
    try:
        events = translate(change)
        return [effect for event in events for effect in domain.decide(event.type, event.data)]
    except (AclError, UnsupportedEvent) as exc:
        raise RowRefused(str(exc)) from exc


def posting(row: dict[str, Any], currency: str) -> domain.PostTransaction:
    (effect,) = effects_of("wallets_transaction", row, {"wallet_currency": currency})
    if not isinstance(effect, domain.PostTransaction):
        raise RowRefused(f"a ledger row became {type(effect).__name__}, not a posting")
    return effect


def opening(row: dict[str, Any]) -> domain.OpenWallet:
    effects = effects_of("wallets_wallet", row, {})
    if len(effects) != 1 or not isinstance(effects[0], domain.OpenWallet):
        raise RowRefused(f"wallet {row.get('id')} did not translate to one opening")
    return effects[0]


def transaction_record(p: domain.PostTransaction) -> tuple[Any, ...]:
    """A ``ledger_transaction`` row, in the column order of ``TRANSACTION_COLUMNS``."""
    return (p.transaction_id, p.wallet_id, p.kind, p.amount, p.currency, "posted", p.reference,
            p.description, p.counterparty_wallet_id, p.balance_after, p.posted_at)


def entry_records(p: domain.PostTransaction) -> list[tuple[Any, ...]]:
    return [(p.transaction_id, leg.leg, leg.account, leg.amount, leg.currency) for leg in p.legs]


def wallet_record(w: domain.OpenWallet) -> tuple[Any, ...]:
    return (w.wallet_id, w.merchant_id, w.customer_id, w.currency, w.status, w.opened_at)


TRANSACTION_COLUMNS = ("id", "wallet_id", "kind", "amount", "currency", "status", "reference",
                       "description", "counterparty_wallet_id", "balance_after", "created_at")
ENTRY_COLUMNS = ("transaction_id", "leg", "account", "amount", "currency")
WALLET_COLUMNS = ("wallet_id", "merchant_id", "customer_id", "currency", "status", "opened_at")
