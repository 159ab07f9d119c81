"""Translators: pure functions, one per legacy table, from row images to domain events.

Declared with ``@translates("table")``. A translator returns zero or more
events, or raises ``TranslationError`` for a row it cannot understand (unknown
code, impossible null); the relay quarantines that change with the reason.
Zero events is a deliberate answer (e.g. a balance-only wallet update: the
ledger row of the same transaction carries the money movement).

The legacy codes are restated here rather than imported from the monolith's
models, which would pull in Django; tests/acl/test_translators.py checks they
still match the models' choices.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from acl.domain import Change, DomainEvent, Row, decode, money, required, utc_iso
from acl.errors import TranslationError

Translator = Callable[[Change], list[DomainEvent]]
_REGISTRY: dict[str, Translator] = {}

KYC_STATUS = {0: "none", 1: "pending", 2: "verified", 3: "rejected"}
DOC_TYPE = {1: "pan", 2: "aadhaar", 3: "passport"}
WALLET_STATUS = {1: "active", 2: "frozen", 3: "closed"}
TXN_TYPE = {1: "credit", 2: "debit", 3: "transfer_in", 4: "transfer_out", 5: "payout", 6: "payout_reversal"}
INBOUND_KINDS = frozenset({"credit", "transfer_in", "payout_reversal"})
TXN_STATUS = {1: "posted"}
PAYOUT_STATUS = {1: "requested", 2: "processing", 3: "paid", 4: "failed", 5: "reversed"}


def translates(table: str) -> Callable[[Translator], Translator]:
    def register(fn: Translator) -> Translator:
        if table in _REGISTRY:
            raise ValueError(
                f"two translators declared for {table}: {_REGISTRY[table].__name__}, {fn.__name__}"
            )
        _REGISTRY[table] = fn
        return fn

    return register


def translate(change: Change) -> list[DomainEvent]:
    """Route a change to its table's translator. Raises TranslationError for anything it cannot read."""
    translator = _REGISTRY.get(change.table)
    if translator is None:
        raise TranslationError(f"no translator declared for table {change.table}")
    if change.op == "TRUNCATE":
        raise TranslationError(f"{change.table} was truncated; every row vanished without row images")
    return translator(change)


def translated_tables() -> frozenset[str]:
    return frozenset(_REGISTRY)


def _new(change: Change) -> Row:
    if change.after is None:
        raise TranslationError(f"{change.op} without an after image")
    return change.after


def _changed(change: Change, column: str) -> bool:
    before, after = change.before or {}, change.after or {}
    return before.get(column) != after.get(column)


def _event(
    type_: str, aggregate_type: str, aggregate_id: object, at: str, data: dict[str, object]
) -> DomainEvent:
    return DomainEvent(type_, aggregate_type, str(aggregate_id), datetime.fromisoformat(at), data)


def _is_insert(change: Change) -> bool:
    return change.op in ("INSERT", "SNAPSHOT")


def _no_delete(change: Change, what: str) -> None:
    if change.op == "DELETE":
        raise TranslationError(f"{what} are never deleted in PayStream; this delete needs a human decision")


# ---- customers and KYC ----------------------------------------------------------------


@translates("accounts_user")
def user_events(change: Change) -> list[DomainEvent]:
    _no_delete(change, "users")
    row = _new(change)
    customer_id = required(row, "id")
    decode(
        KYC_STATUS, row.get("kyc_status"), "kyc_status"
    )  # an unknown code is corruption even if unused here
    if _is_insert(change):
        at = utc_iso(required(row, "created_at"), "created_at")
        return [
            _event(
                "paystream.customer.registered.v1",
                "customer",
                customer_id,
                at,
                {
                    "customer_id": str(customer_id),
                    "merchant_id": str(required(row, "merchant_id")),
                    "external_reference": required(row, "external_ref"),
                    "full_name": required(row, "full_name"),
                    "email": row.get("email") or None,
                    "phone": row.get("phone") or None,
                    "registered_at": at,
                },
            )
        ]
    if not any(_changed(change, c) for c in ("full_name", "email", "phone")):
        return []  # KYC status on the user mirrors the submission, whose events carry it
    at = utc_iso(required(row, "updated_at"), "updated_at")
    return [
        _event(
            "paystream.customer.updated.v1",
            "customer",
            customer_id,
            at,
            {
                "customer_id": str(customer_id),
                "full_name": required(row, "full_name"),
                "email": row.get("email") or None,
                "phone": row.get("phone") or None,
                "changed_at": at,
            },
        )
    ]


@translates("accounts_kycsubmission")
def kyc_events(change: Change) -> list[DomainEvent]:
    _no_delete(change, "KYC submissions")
    row = _new(change)
    customer_id = required(row, "user_id")
    status = decode(KYC_STATUS, row.get("status"), "status")
    base = {
        "submission_id": str(required(row, "id")),
        "customer_id": str(customer_id),
        "document_type": decode(DOC_TYPE, row.get("document_type"), "document_type"),
    }
    events: list[DomainEvent] = []
    if _is_insert(change):
        at = utc_iso(required(row, "submitted_at"), "submitted_at")
        events.append(
            _event("paystream.kyc.submitted.v1", "customer", customer_id, at, {**base, "submitted_at": at})
        )
    if status in ("verified", "rejected") and (_is_insert(change) or _changed(change, "status")):
        at = utc_iso(required(row, "reviewed_at"), "reviewed_at")  # a decision without a time is impossible
        if status == "verified":
            events.append(
                _event("paystream.kyc.verified.v1", "customer", customer_id, at, {**base, "verified_at": at})
            )
        else:
            events.append(
                _event(
                    "paystream.kyc.rejected.v1",
                    "customer",
                    customer_id,
                    at,
                    {**base, "reason": row.get("reason") or None, "rejected_at": at},
                )
            )
    return events


# ---- merchants and their API keys ---------------------------------------------------------


@translates("accounts_merchant")
def merchant_events(change: Change) -> list[DomainEvent]:
    _no_delete(change, "merchants")
    row = _new(change)
    merchant_id = required(row, "id")
    active = required(row, "is_active")
    if not isinstance(active, bool):
        raise TranslationError(f"is_active is {active!r}, expected a boolean")
    if _is_insert(change):
        # Announced at registration (and by a backfill) too, so consumers hold every merchant's
        # status; the legacy table has no updated_at, so a snapshot is dated when it was taken.
        at = utc_iso(required(row, "created_at"), "created_at") if change.op == "INSERT" else (
            utc_iso(change.captured_at.isoformat(), "captured_at"))
    elif _changed(change, "is_active"):
        at = utc_iso(change.captured_at.isoformat(), "captured_at")  # no updated_at column to read
    else:
        return []  # name/email edits: no consumer needs them yet, and no contract carries them
    return [
        _event(
            "paystream.merchant.status_changed.v1",
            "merchant",
            merchant_id,
            at,
            {"merchant_id": str(merchant_id), "active": active, "changed_at": at},
        )
    ]


@translates("accounts_apikey")
def api_key_events(change: Change) -> list[DomainEvent]:
    """Only the key's id, merchant and SHA-256 travel; the raw key is never stored, let alone sent."""
    image = change.after if change.op != "DELETE" else change.before
    if image is None:
        raise TranslationError(f"{change.op} of an API key without a row image")
    key_id, merchant_id = required(image, "id"), required(image, "merchant_id")
    key_hash = required(image, "key_hash")
    if not (isinstance(key_hash, str) and len(key_hash) == 64
            and all(c in "0123456789abcdef" for c in key_hash)):
        # never echo the value: a raw key pasted into this column must not reach a log or a topic
        raise TranslationError("key_hash is not a lower-case SHA-256 hex digest")
    ids = {"key_id": str(key_id), "merchant_id": str(merchant_id)}

    def revoked(at: str) -> DomainEvent:
        return _event("paystream.merchant.api_key_revoked.v1", "merchant", merchant_id, at,
                      {**ids, "revoked_at": at})

    if change.op == "DELETE":
        # a deleted key must stop working exactly like a revoked one
        return [revoked(utc_iso(change.captured_at.isoformat(), "captured_at"))]
    events: list[DomainEvent] = []
    before = change.before or {}
    if _is_insert(change):
        at = utc_iso(required(image, "created_at"), "created_at")
        events.append(_event("paystream.merchant.api_key_issued.v1", "merchant", merchant_id, at,
                             {**ids, "key_hash": key_hash, "issued_at": at}))
    elif _changed(change, "key_hash") or _changed(change, "merchant_id"):
        raise TranslationError(
            f"API key {key_id} changed its hash or merchant in place; issue a new key and revoke this one"
        )
    revoked_at = image.get("revoked_at")
    if revoked_at is not None and (_is_insert(change) or before.get("revoked_at") is None):
        events.append(revoked(utc_iso(revoked_at, "revoked_at")))
    elif revoked_at is None and before.get("revoked_at") is not None:
        raise TranslationError(
            f"API key {key_id} was un-revoked; a revoked key stays revoked. Issue a new key instead"
        )
    return events


# ---- wallets and the ledger ------------------------------------------------------------


@translates("wallets_wallet")
def wallet_events(change: Change) -> list[DomainEvent]:
    _no_delete(change, "wallets")
    row = _new(change)
    wallet_id = required(row, "id")
    status = decode(WALLET_STATUS, row.get("status"), "status")
    if _is_insert(change):
        at = utc_iso(required(row, "created_at"), "created_at")
        return [
            _event(
                "paystream.wallet.opened.v1",
                "wallet",
                wallet_id,
                at,
                {
                    "wallet_id": str(wallet_id),
                    "customer_id": str(required(row, "user_id")),
                    "merchant_id": str(required(row, "merchant_id")),
                    "currency": money(0, row.get("currency"))["currency"],
                    "status": status,
                    "opened_at": at,
                },
            )
        ]
    if not _changed(change, "status"):
        return []  # balance moves are announced by the ledger row written in the same transaction
    at = utc_iso(required(row, "updated_at"), "updated_at")
    return [
        _event(
            "paystream.wallet.status_changed.v1",
            "wallet",
            wallet_id,
            at,
            {
                "wallet_id": str(wallet_id),
                "status": status,
                "previous_status": decode(WALLET_STATUS, (change.before or {}).get("status"), "status"),
                "changed_at": at,
            },
        )
    ]


@translates("wallets_transaction")
def ledger_events(change: Change) -> list[DomainEvent]:
    if not _is_insert(change):
        raise TranslationError(
            f"ledger rows are append-only; got {change.op} of transaction "
            f"{(change.after or change.before or {}).get('id')}"
        )
    row = _new(change)
    wallet_id = required(row, "wallet_id")
    kind = decode(TXN_TYPE, row.get("txn_type"), "txn_type")
    decode(TXN_STATUS, row.get("status"), "status")
    currency = change.context.get("wallet_currency")
    amount = required(row, "amount")
    if isinstance(amount, int) and amount <= 0:
        raise TranslationError(f"ledger amount must be positive, got {amount}")
    at = utc_iso(required(row, "created_at"), "created_at")
    related = row.get("related_wallet_id")
    inbound = kind in INBOUND_KINDS
    data: dict[str, object] = {
        "wallet_id": str(wallet_id),
        "entry_id": str(required(row, "id")),
        "kind": kind,
        "amount": money(amount, currency),
        "balance_after": money(required(row, "balance_after"), currency),
        "reference": row.get("reference") or None,
        "description": row.get("description") or None,
        "counterparty_wallet_id": None if related is None else str(related),
        "posted_at": at,
    }
    # Optional: the trigger adds it for live writes, a backfill only for a wallet's newest row.
    wallet_updated_at = change.context.get("wallet_updated_at")
    if wallet_updated_at is not None:
        data["wallet_updated_at"] = utc_iso(wallet_updated_at, "wallet_updated_at")
    return [
        _event(
            f"paystream.wallet.{'credited' if inbound else 'debited'}.v1",
            "wallet",
            wallet_id,
            at,
            data,
        )
    ]


# ---- payouts -----------------------------------------------------------------------------


@translates("payouts_payout")
def payout_events(change: Change) -> list[DomainEvent]:
    _no_delete(change, "payouts")
    row = _new(change)
    payout_id = required(row, "id")
    status = decode(PAYOUT_STATUS, row.get("status"), "status")
    events: list[DomainEvent] = []
    if _is_insert(change):
        at = utc_iso(required(row, "created_at"), "created_at")
        events.append(
            _event(
                "paystream.payout.requested.v1",
                "payout",
                payout_id,
                at,
                {
                    "payout_id": str(payout_id),
                    "wallet_id": str(required(row, "wallet_id")),
                    "merchant_id": str(required(row, "merchant_id")),
                    "amount": money(required(row, "amount"), change.context.get("wallet_currency")),
                    "requested_at": at,
                },
            )
        )
    if (_is_insert(change) and status != "requested") or (
        not _is_insert(change) and _changed(change, "status")
    ):
        before = change.before or {}
        at = utc_iso(required(row, "updated_at"), "updated_at")
        events.append(
            _event(
                "paystream.payout.status_changed.v1",
                "payout",
                payout_id,
                at,
                {
                    "payout_id": str(payout_id),
                    "wallet_id": str(required(row, "wallet_id")),
                    "status": status,
                    "previous_status": decode(PAYOUT_STATUS, before.get("status", 1), "status"),
                    "failure_reason": row.get("failure_reason") or None,
                    "provider_reference": row.get("provider_ref") or None,
                    "changed_at": at,
                },
            )
        )
    return events
