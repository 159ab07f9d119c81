"""The relay's envelope encoder writes exactly the bytes the CloudEvents SDK writes.

``acl.envelope.to_message`` builds the Kafka binary-mode record directly (the relay's hot
path); ``to_message_sdk`` builds it through the ``cloudevents`` SDK. Consumers, the inbox
(event ids) and the Debezium contract suite see the relay's output, so the two must agree
byte for byte: topic, key, value, every header and its order.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acl.contracts import ContractRegistry, load_contracts
from acl.domain import Change, DomainEvent, event_id
from acl.envelope import OutgoingMessage, parse_message, to_message, to_message_sdk
from acl.translators import translate
from tests.acl.test_translators import (
    API_KEY,
    AT,
    CUR,
    KYC,
    MERCHANT,
    PAYOUT,
    TXN,
    USER,
    WALLET,
    change,
)

REGISTRY = ContractRegistry(load_contracts())
SAMPLES: list[Change] = [
    change("accounts_user", "INSERT", None, USER),
    change("accounts_user", "UPDATE", USER, {**USER, "full_name": "Asha R", "email": "asha@example.in"}),
    change("accounts_kycsubmission", "INSERT", None, KYC),
    change("accounts_kycsubmission", "UPDATE", KYC, {**KYC, "status": 2, "reviewed_at": AT}),
    change(
        "accounts_kycsubmission", "UPDATE", KYC, {**KYC, "status": 3, "reviewed_at": AT, "reason": "blur"}
    ),
    change("wallets_wallet", "INSERT", None, WALLET),
    change("wallets_wallet", "UPDATE", WALLET, {**WALLET, "status": 2}),
    change("wallets_transaction", "INSERT", None, TXN, CUR),
    change("wallets_transaction", "INSERT", None, TXN, {**CUR, "wallet_updated_at": AT}),
    change("wallets_transaction", "INSERT", None, {**TXN, "txn_type": 4, "related_wallet_id": 8}, CUR),
    change("payouts_payout", "INSERT", None, PAYOUT, CUR),
    change("payouts_payout", "UPDATE", PAYOUT, {**PAYOUT, "status": 4, "failure_reason": "bank down"}, CUR),
    change("accounts_merchant", "INSERT", None, MERCHANT),
    change("accounts_merchant", "UPDATE", MERCHANT, {**MERCHANT, "is_active": False}),
    change("accounts_apikey", "INSERT", None, API_KEY),
    change("accounts_apikey", "UPDATE", API_KEY, {**API_KEY, "revoked_at": AT}),
    # text a consumer must get back exactly: non-ASCII, quotes, backslashes, control characters
    change(
        "accounts_user",
        "INSERT",
        None,
        {**USER, "full_name": 'Āshā "Kirana" \\ Rāo\n\t', "email": "ā@例え.jp", "external_ref": "💳-9"},
    ),
    change(
        "wallets_transaction", "INSERT", None, {**TXN, "reference": "ord-₹1", "description": "née\u2028"}, CUR
    ),
]
CORRELATION_IDS = [None, "", "req-1", "req-ü-日本", "00000000-0000-4000-8000-000000000000"]
TRACEPARENTS = [
    None,
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "not-a-traceparent",
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",  # upper case: not W3C, replaced
]


def events() -> list[DomainEvent]:
    return [event for c in SAMPLES for event in translate(c)]


def same_bytes(event: DomainEvent, eid: str, cid: str | None, trace: str | None) -> None:
    lean, sdk = to_message(event, eid, cid, trace, 42), to_message_sdk(event, eid, cid, trace, 42)
    assert (lean.topic, lean.key, lean.event_id, lean.source_ref) == (sdk.topic, sdk.key, sdk.event_id, 42)
    assert lean.headers == sdk.headers, event.type
    assert [type(v) for _, v in lean.headers] == [bytes] * len(lean.headers)
    assert lean.value == sdk.value, event.type
    assert lean == sdk


def test_the_samples_exercise_every_contract() -> None:
    assert {e.type for e in events()} == REGISTRY.types()
    for event in events():
        REGISTRY.validate_emitted(event)


@pytest.mark.parametrize("cid", CORRELATION_IDS)
@pytest.mark.parametrize("trace", TRACEPARENTS)
def test_every_contracts_sample_encodes_to_the_sdks_bytes(cid: str | None, trace: str | None) -> None:
    for index, event in enumerate(events()):
        same_bytes(event, event_id(f"origin/outbox:{index}", 0), cid, trace)


@pytest.mark.parametrize(
    "occurred_at",
    [
        datetime(2026, 3, 1, 10, 0, 0, 123456, tzinfo=UTC),
        datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC),  # no fraction: isoformat drops it
        datetime(2026, 3, 1, 15, 30, 0, 500, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-8))),
    ],
)
def test_event_time_is_encoded_like_the_sdk_in_any_offset(occurred_at: datetime) -> None:
    [event] = translate(SAMPLES[7])
    same_bytes(DomainEvent(event.type, event.aggregate_type, "7", occurred_at, event.data), "e-1", "c", None)


def test_payload_values_the_translators_do_not_emit_today_still_encode_like_the_sdk() -> None:
    data: dict[Any, Any] = {
        "float": 1.5,
        "big": 10**30,
        "nan": float("nan"),
        "flag": True,
        "none": None,
        "list": [1, "two", {"three": [3.0, None]}],
        "when": datetime(2026, 3, 1, 10, 0, tzinfo=UTC),
        "when_ist": datetime(2026, 3, 1, 10, 0, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        "when_naive": datetime(2026, 3, 1, 10, 0),
        7: "int key",
        "": "empty key",
        "nested": {"ü": {"deeper": ["\x00", "\ud7ff"]}},
    }
    event = DomainEvent("paystream.wallet.credited.v1", "wallet", "7", datetime.now(UTC), data)
    same_bytes(event, "e-2", "c", None)


def test_what_json_cannot_encode_fails_in_both_and_nothing_falls_back_silently() -> None:
    event = DomainEvent("paystream.wallet.credited.v1", "wallet", "7", datetime.now(UTC), {"x": object()})
    with pytest.raises(TypeError):
        to_message_sdk(event, "e-3", None, None)
    with pytest.raises(TypeError):
        to_message(event, "e-3", None, None)


def test_unusual_events_take_the_sdk_path_and_get_its_answer() -> None:
    text = DomainEvent("paystream.wallet.credited.v1", "wallet", "7", datetime.now(UTC), "plain")  # type: ignore[arg-type]
    assert to_message(text, "e-4", None, None) == to_message_sdk(text, "e-4", None, None)
    for bad_id, bad_type in (("", "paystream.wallet.credited.v1"), ("e-5", "")):
        event = DomainEvent(bad_type, "wallet", "7", datetime.now(UTC), {})
        with pytest.raises(Exception) as sdk_error:
            to_message_sdk(event, bad_id, None, None)
        with pytest.raises(type(sdk_error.value)):
            to_message(event, bad_id, None, None)


def test_a_consumer_reads_back_what_was_sent() -> None:
    for event in events():
        message: OutgoingMessage = to_message(event, "e-6", "req-1", None)
        parsed = parse_message(message.key, message.value, message.headers)
        assert parsed.get_type() == event.type
        assert parsed.get_id() == "e-6"
        assert parsed.get_extension("correlationid") == "req-1"
        assert parsed.get_data() == event.data


@settings(max_examples=300)
@given(source_id=st.text(max_size=80), index=st.integers(min_value=0, max_value=10_000))
def test_event_ids_are_exactly_uuid5_of_the_source_and_index(source_id: str, index: int) -> None:
    import uuid

    from acl.domain import EVENT_ID_NAMESPACE, event_id

    assert event_id(source_id, index) == str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{source_id}#{index}"))
