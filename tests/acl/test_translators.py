"""Translators: legacy row images in, contract-valid domain events out; bad rows raise a reason."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from acl.contracts import ContractRegistry, load_contracts
from acl.domain import Change, Op
from acl.errors import TranslationError
from acl.spec import CAPTURED_TABLES
from acl.translators import (
    DOC_TYPE,
    KYC_STATUS,
    PAYOUT_STATUS,
    TXN_TYPE,
    WALLET_STATUS,
    translate,
    translated_tables,
)

AT = "2026-03-01T15:30:00.123456+05:30"  # IST offset, as a psql session on the legacy box would render it
REGISTRY = ContractRegistry(load_contracts())
LEGACY_COLUMNS = {
    "kyc_status",
    "txn_type",
    "balance",
    "related_wallet_id",
    "provider_ref",
    "external_ref",
    "user_id",
    "created_at",
    "updated_at",
    "reviewed_at",
    "debit_transaction_id",
}


def change(
    table: str,
    op: Op,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    context: dict[str, Any] | None = None,
) -> Change:
    return Change("outbox:1", table, op, before, after, datetime.now(UTC), "req-1", None, context or {})


WALLET = {
    "id": 7,
    "merchant_id": 1,
    "user_id": 3,
    "currency": "INR",
    "balance": 0,
    "status": 1,
    "limits_locked": True,
    "created_at": AT,
    "updated_at": AT,
}
TXN = {
    "id": 11,
    "wallet_id": 7,
    "txn_type": 1,
    "amount": 12345,
    "balance_after": 12345,
    "status": 1,
    "reference": "ord-1",
    "description": "",
    "related_wallet_id": None,
    "created_at": AT,
}
USER = {
    "id": 3,
    "merchant_id": 1,
    "external_ref": "cust-9",
    "full_name": "Asha",
    "email": "",
    "phone": "",
    "kyc_status": 0,
    "created_at": AT,
    "updated_at": AT,
}
KYC = {
    "id": 5,
    "user_id": 3,
    "document_type": 1,
    "document_number": "ABCDE1234F",
    "status": 1,
    "reason": "",
    "reviewed_by_id": None,
    "submitted_at": AT,
    "reviewed_at": None,
}
PAYOUT = {
    "id": 9,
    "merchant_id": 1,
    "wallet_id": 7,
    "bank_account_id": 2,
    "amount": 5000,
    "status": 1,
    "idempotency_key": "k",
    "provider_ref": "",
    "failure_reason": "",
    "debit_transaction_id": None,
    "created_at": AT,
    "updated_at": AT,
}
CUR = {"wallet_currency": "INR"}
MERCHANT = {"id": 1, "name": "Kirana Co", "email": "ops@kirana.in", "is_active": True, "created_at": AT}
RAW_KEY = "ps_live_s3cr3t-never-in-an-event"
API_KEY = {
    "id": 4,
    "merchant_id": 1,
    "prefix": RAW_KEY[:12],
    "key_hash": hashlib.sha256(RAW_KEY.encode()).hexdigest(),
    "created_at": AT,
    "revoked_at": None,
}


def test_every_captured_table_has_exactly_one_translator() -> None:
    assert translated_tables() == {s.table for s in CAPTURED_TABLES}


def test_restated_legacy_codes_match_the_monolith_models() -> None:
    from monolith.accounts import models as accounts
    from monolith.payouts import models as payouts
    from monolith.wallets import models as wallets

    assert {k: v.lower() for k, v in accounts.KYC_STATUS_CHOICES} == KYC_STATUS
    assert dict(accounts.DOC_TYPE_CHOICES) == DOC_TYPE
    assert {k: v.lower() for k, v in wallets.WALLET_STATUS_CHOICES} == WALLET_STATUS
    assert {k: v.lower() for k, v in wallets.TXN_TYPE_CHOICES} == TXN_TYPE
    assert set(payouts.PAYOUT_STATUS_CHOICES) == {
        (1, "CREATED"),
        (2, "PROCESSING"),
        (3, "PAID"),
        (4, "FAILED"),
        (5, "REVERSED"),
    }
    assert set(PAYOUT_STATUS) == {k for k, _ in payouts.PAYOUT_STATUS_CHOICES}


def test_ledger_credit_becomes_wallet_credited_in_the_new_language() -> None:
    [event] = translate(change("wallets_transaction", "INSERT", None, TXN, CUR))
    assert event.type == "paystream.wallet.credited.v1"
    assert event.aggregate_id == "7"
    assert event.data["amount"] == {"amount": "123.45", "currency": "INR"}
    assert event.data["posted_at"] == "2026-03-01T10:00:00.123456Z"
    assert event.data["kind"] == "credit"
    REGISTRY.validate_emitted(event)


@pytest.mark.parametrize(
    "code,event_type,kind",
    [
        (2, "debited", "debit"),
        (3, "credited", "transfer_in"),
        (4, "debited", "transfer_out"),
        (5, "debited", "payout"),
        (6, "credited", "payout_reversal"),
    ],
)
def test_every_ledger_type_maps_to_a_direction_and_kind(code: int, event_type: str, kind: str) -> None:
    [event] = translate(change("wallets_transaction", "INSERT", None, {**TXN, "txn_type": code}, CUR))
    assert (event.type, event.data["kind"]) == (f"paystream.wallet.{event_type}.v1", kind)
    REGISTRY.validate_emitted(event)


def test_no_legacy_column_name_or_integer_code_leaks_into_any_event() -> None:
    cases = [
        change("accounts_user", "INSERT", None, USER),
        change("accounts_user", "UPDATE", USER, {**USER, "full_name": "Asha R"}),
        change("accounts_kycsubmission", "INSERT", None, KYC),
        change("accounts_kycsubmission", "UPDATE", KYC, {**KYC, "status": 2, "reviewed_at": AT}),
        change(
            "accounts_kycsubmission", "UPDATE", KYC, {**KYC, "status": 3, "reviewed_at": AT, "reason": "blur"}
        ),
        change("wallets_wallet", "INSERT", None, WALLET),
        change("wallets_wallet", "UPDATE", WALLET, {**WALLET, "status": 2}),
        change("wallets_transaction", "INSERT", None, TXN, CUR),
        change("wallets_transaction", "INSERT", None, {**TXN, "txn_type": 4, "related_wallet_id": 8}, CUR),
        change("payouts_payout", "INSERT", None, PAYOUT, CUR),
        change(
            "payouts_payout", "UPDATE", PAYOUT, {**PAYOUT, "status": 4, "failure_reason": "bank down"}, CUR
        ),
        change("accounts_merchant", "INSERT", None, MERCHANT),
        change("accounts_apikey", "INSERT", None, API_KEY),
        change("accounts_apikey", "UPDATE", API_KEY, {**API_KEY, "revoked_at": AT}),
    ]
    types = set()
    for c in cases:
        for event in translate(c):
            REGISTRY.validate_emitted(event)
            types.add(event.type)
            text = json.dumps(event.data)
            assert not LEGACY_COLUMNS & set(event.data), event.type
            # a boolean (merchant active) is a fact, not a legacy integer code
            assert not any(type(v) is int for v in event.data.values()), text
            assert "+05:30" not in text
    assert types == REGISTRY.types(), "every contract is exercised by some legacy change"


def test_kyc_verified_event_comes_from_the_status_change() -> None:
    events = translate(
        change("accounts_kycsubmission", "UPDATE", KYC, {**KYC, "status": 2, "reviewed_at": AT})
    )
    assert [e.type for e in events] == ["paystream.kyc.verified.v1"]
    assert events[0].data["document_type"] == "pan"


def test_balance_only_wallet_update_is_deliberately_zero_events() -> None:
    assert translate(change("wallets_wallet", "UPDATE", WALLET, {**WALLET, "balance": 100})) == []


@pytest.mark.parametrize(
    "c,reason",
    [
        (
            change("wallets_transaction", "INSERT", None, {**TXN, "txn_type": 42}, CUR),
            "unknown txn_type code 42",
        ),
        (change("wallets_transaction", "INSERT", None, TXN, {}), "currency"),
        (change("wallets_transaction", "UPDATE", TXN, TXN, CUR), "append-only"),
        (change("accounts_merchant", "DELETE", MERCHANT, None), "never deleted"),
        (change("accounts_merchant", "INSERT", None, {**MERCHANT, "is_active": None}), "is_active is null"),
        (
            change("accounts_apikey", "INSERT", None, {**API_KEY, "key_hash": RAW_KEY}),
            "not a lower-case SHA-256",
        ),
        (
            change("accounts_apikey", "UPDATE", {**API_KEY, "revoked_at": AT}, API_KEY),
            "un-revoked",
        ),
        (change("accounts_apikey", "UPDATE", API_KEY, {**API_KEY, "merchant_id": 2}), "in place"),
        (
            change("wallets_transaction", "INSERT", None, TXN, {**CUR, "wallet_updated_at": "yesterday"}),
            "wallet_updated_at is not an ISO timestamp",
        ),
        (change("wallets_wallet", "INSERT", None, {**WALLET, "status": 9}), "unknown status code 9"),
        (change("accounts_kycsubmission", "UPDATE", KYC, {**KYC, "status": 2}), "reviewed_at is null"),
        (change("accounts_user", "DELETE", USER, None), "never deleted"),
        (change("accounts_user", "INSERT", None, {**USER, "full_name": None}), "full_name is null"),
        (change("payouts_payout", "TRUNCATE", None, None), "truncated"),
        (
            change("wallets_wallet", "INSERT", None, {**WALLET, "created_at": "2026-03-01 10:00"}),
            "no time zone",
        ),
    ],
)
def test_unreadable_rows_raise_with_a_reason_for_quarantine(c: Change, reason: str) -> None:
    with pytest.raises(TranslationError) as info:
        translate(c)
    assert reason in info.value.reason


# ---- merchants, API keys, and the wallet's updated_at ----------------------------------------------------


def test_an_issued_api_key_travels_as_its_sha256_only_never_raw_or_prefixed() -> None:
    events = translate(change("accounts_apikey", "INSERT", None, API_KEY))
    assert [e.type for e in events] == ["paystream.merchant.api_key_issued.v1"]
    assert events[0].data == {
        "key_id": "4",
        "merchant_id": "1",
        "key_hash": hashlib.sha256(RAW_KEY.encode()).hexdigest(),
        "issued_at": "2026-03-01T10:00:00.123456Z",
    }
    assert events[0].aggregate_type == "merchant" and events[0].aggregate_id == "1"
    text = json.dumps(events[0].data)
    assert RAW_KEY not in text and str(API_KEY["prefix"]) not in text


def test_a_key_unusable_by_revocation_or_deletion_is_announced_as_revoked() -> None:
    revoked = translate(change("accounts_apikey", "UPDATE", API_KEY, {**API_KEY, "revoked_at": AT}))
    deleted = translate(change("accounts_apikey", "DELETE", API_KEY, None))
    assert [e.type for e in revoked + deleted] == ["paystream.merchant.api_key_revoked.v1"] * 2
    assert revoked[0].data == {"key_id": "4", "merchant_id": "1", "revoked_at": "2026-03-01T10:00:00.123456Z"}
    for event in revoked + deleted:
        REGISTRY.validate_emitted(event)


def test_a_snapshot_of_an_already_revoked_key_is_issued_then_revoked_in_that_order() -> None:
    events = translate(change("accounts_apikey", "SNAPSHOT", None, {**API_KEY, "revoked_at": AT}))
    assert [e.type for e in events] == [
        "paystream.merchant.api_key_issued.v1",
        "paystream.merchant.api_key_revoked.v1",
    ]


def test_merchant_status_is_announced_at_registration_and_on_change_only() -> None:
    registered = translate(change("accounts_merchant", "INSERT", None, MERCHANT))
    deactivated = translate(change("accounts_merchant", "UPDATE", MERCHANT, {**MERCHANT, "is_active": False}))
    renamed = translate(change("accounts_merchant", "UPDATE", MERCHANT, {**MERCHANT, "name": "Kirana Ltd"}))
    assert [(e.type, e.data["active"]) for e in registered + deactivated] == [
        ("paystream.merchant.status_changed.v1", True),
        ("paystream.merchant.status_changed.v1", False),
    ]
    assert renamed == []
    assert "name" not in registered[0].data and "email" not in registered[0].data


def test_ledger_event_carries_the_wallets_updated_at_when_capture_looked_it_up() -> None:
    context = {**CUR, "wallet_updated_at": "2026-03-01T10:00:00.1+00:00"}
    with_it = translate(change("wallets_transaction", "INSERT", None, TXN, context))[0]
    without = translate(change("wallets_transaction", "INSERT", None, TXN, CUR))[0]
    assert with_it.data["wallet_updated_at"] == "2026-03-01T10:00:00.100000Z"
    assert "wallet_updated_at" not in without.data  # optional: backfilled history may lack it
    REGISTRY.validate_emitted(with_it)
    REGISTRY.validate_emitted(without)
