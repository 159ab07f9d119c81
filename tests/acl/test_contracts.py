"""Contracts: every event is validated; breaking schema changes are refused unless versioned."""

from __future__ import annotations

import copy
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from acl.contracts import (
    ContractRegistry,
    check_contracts,
    closed,
    contracts_at_git_ref,
    load_contracts,
    parse_contracts,
)
from acl.domain import Change, DomainEvent
from acl.errors import ContractError, ContractViolation
from acl.ports import PendingChange
from acl.relay import render

CURRENT = load_contracts()
CREDITED = "paystream.wallet.credited.v1"
REPO = Path(__file__).resolve().parents[2]


def credited(**extra: object) -> DomainEvent:
    data = {
        "wallet_id": "7", "entry_id": "1", "amount": {"amount": "1.00", "currency": "INR"},
        "balance_after": {"amount": "1.00", "currency": "INR"}, "reference": "", "description": "",
        "counterparty_wallet_id": None, "posted_at": "2026-03-01T10:00:00Z", "kind": "credit", **extra,
    }
    return DomainEvent(CREDITED, "wallet", "7", datetime.now(UTC), data)


def test_a_payload_with_a_legacy_column_or_integer_amount_is_a_violation() -> None:
    registry = ContractRegistry(CURRENT)
    event = DomainEvent(CREDITED, "wallet", "7", datetime.now(UTC), {"wallet_id": "7", "amount": 12345})
    with pytest.raises(ContractViolation) as info:
        registry.validate(event)
    assert info.value.event_type == CREDITED


def test_an_event_type_without_a_contract_is_a_violation() -> None:
    with pytest.raises(ContractViolation, match="no contract"):
        ContractRegistry(CURRENT).validate(DomainEvent("paystream.x.y.v1", "x", "1", datetime.now(UTC), {}))


def test_unchanged_contracts_are_compatible() -> None:
    assert check_contracts(CURRENT, CURRENT) == []


def test_adding_an_optional_field_is_compatible() -> None:
    new = copy.deepcopy(CURRENT)
    new[CREDITED]["properties"]["channel"] = {"type": "string"}
    assert check_contracts(CURRENT, new) == []


@pytest.mark.parametrize(
    "mutate,expected",
    [
        (
            lambda s: (s["required"].remove("amount"), s["properties"].pop("amount")),
            "/amount: required field removed",
        ),
        (lambda s: s["properties"].__setitem__("posted_at", {"type": "integer"}), "/posted_at: type changed"),
        (
            lambda s: s["properties"]["amount"]["properties"].__setitem__("amount", {"type": "number"}),
            "/amount/amount: type changed",
        ),
        (lambda s: s["required"].remove("wallet_id"), "/wallet_id: required field became optional"),
        (lambda s: s["properties"]["kind"]["enum"].append("refund"), "new enum values ['refund']"),
    ],
)
def test_breaking_changes_to_an_existing_version_are_reported(mutate: object, expected: str) -> None:
    new = copy.deepcopy(CURRENT)
    mutate(new[CREDITED])  # type: ignore[operator]
    problems = check_contracts(CURRENT, new)
    assert any(expected in p for p in problems), problems


def test_a_renamed_field_is_a_removed_required_field() -> None:
    new = copy.deepcopy(CURRENT)
    schema = new[CREDITED]
    schema["properties"]["wallet"] = schema["properties"].pop("wallet_id")
    schema["required"] = ["wallet" if f == "wallet_id" else f for f in schema["required"]]
    assert any("/wallet_id: required field removed or renamed" in p for p in check_contracts(CURRENT, new))


def test_a_breaking_change_shipped_as_a_new_version_is_compatible() -> None:
    new = copy.deepcopy(CURRENT)
    v2 = copy.deepcopy(new[CREDITED])
    v2["title"] = "paystream.wallet.credited.v2"
    v2["properties"]["amount"] = {"type": "string"}
    new["paystream.wallet.credited.v2"] = v2
    assert check_contracts(CURRENT, new) == []


def test_removing_a_published_version_is_reported() -> None:
    new = {k: v for k, v in CURRENT.items() if k != CREDITED}
    assert check_contracts(CURRENT, new) == [
        f"{CREDITED}: contract removed; keep it until its consumers have moved"
    ]


def test_a_contract_file_whose_title_disagrees_with_its_name_is_refused() -> None:
    schema = dict(CURRENT[CREDITED], title="paystream.wallet.credited.v9")
    with pytest.raises(ContractError, match=r"paystream.wallet.credited.v1.json: its title"):
        parse_contracts({f"{CREDITED}.json": json.dumps(schema)})


def test_baseline_from_a_git_ref_without_the_folder_is_empty(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    assert contracts_at_git_ref(repo, "HEAD", folder="acl/no-such-folder") == {}


# ---- open contracts, closed producer -----------------------------------------------------------------


def test_a_consumer_ignores_a_field_its_copy_does_not_declare_but_the_producer_refuses_it() -> None:
    registry = ContractRegistry(CURRENT)
    registry.validate_emitted(credited())
    registry.validate(credited(settlement_batch="b-1"))  # a field added after this copy was taken
    with pytest.raises(ContractViolation, match="settlement_batch"):
        registry.validate_emitted(credited(settlement_batch="b-1"))
    nested = credited(amount={"amount": "1.00", "currency": "INR", "paise": 100})
    registry.validate(nested)
    with pytest.raises(ContractViolation, match=r"amount: .*paise"):
        registry.validate_emitted(nested)


def test_the_relay_quarantines_an_event_carrying_a_field_its_contract_does_not_declare() -> None:
    """The leak guard: the translator emits wallet_updated_at; a contract without it must refuse it."""
    older = copy.deepcopy(CURRENT)
    del older[CREDITED]["properties"]["wallet_updated_at"]
    row = {"id": 1, "wallet_id": 7, "txn_type": 1, "amount": 100, "balance_after": 100, "status": 1,
           "reference": "", "description": "", "related_wallet_id": None,
           "created_at": "2026-03-01T10:00:00+00:00"}
    context = {"wallet_currency": "INR", "wallet_updated_at": "2026-03-01T10:00:00+00:00"}
    change = Change("o/outbox:1", "wallets_transaction", "INSERT", None, row, datetime.now(UTC), None, None,
                    context)
    pending = PendingChange(1, 1, datetime.now(UTC), "wallet:7", change)
    assert len(render(pending, ContractRegistry(CURRENT))) == 1
    with pytest.raises(ContractViolation, match="wallet_updated_at"):
        render(pending, ContractRegistry(older))


def test_no_contract_closes_an_object_and_a_closed_one_is_refused_with_the_fix() -> None:
    assert all("additionalProperties" not in json.dumps(s) for s in CURRENT.values())
    schema = copy.deepcopy(CURRENT[CREDITED])
    schema["properties"]["amount"]["additionalProperties"] = False
    with pytest.raises(ContractError, match=r"additionalProperties: false at /amount.*remove it"):
        parse_contracts({f"{CREDITED}.json": json.dumps(schema)})
    assert parse_contracts({f"{CREDITED}.json": json.dumps(schema)}, enforce_open=False)  # a git baseline


@pytest.mark.parametrize("where", ["", "amount"])
def test_a_field_added_to_an_object_the_baseline_closed_is_breaking(where: str) -> None:
    baseline = {CREDITED: closed(CURRENT[CREDITED])}
    new = copy.deepcopy(CURRENT)
    target = new[CREDITED]["properties"][where] if where else new[CREDITED]
    target["properties"]["channel"] = {"type": "string"}
    problems = check_contracts(baseline, {CREDITED: new[CREDITED]})
    path = f"/{where}/channel" if where else "/channel"
    assert problems == [f"{CREDITED} {path}: field added to an object the old contract closes "
                        "(additionalProperties: false); consumers validating against it reject it"]


def test_opening_a_closed_contract_without_adding_a_field_is_compatible() -> None:
    assert check_contracts({t: closed(s) for t, s in CURRENT.items()}, CURRENT) == []


def test_the_wallet_updated_at_addition_in_history_is_reported_as_breaking() -> None:
    """Regression: bc95336 added wallet_updated_at to the closed credited/debited v1 contracts."""
    if subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", "bc95336^{commit}"],
                      capture_output=True, check=False).returncode != 0:
        pytest.skip("the repository's history is not available (shallow clone)")
    problems = check_contracts(contracts_at_git_ref(REPO, "bc95336~1"), contracts_at_git_ref(REPO, "bc95336"))
    assert [p.split(":")[0] for p in problems if "wallet_updated_at" in p] == [
        "paystream.wallet.credited.v1 /wallet_updated_at",
        "paystream.wallet.debited.v1 /wallet_updated_at",
    ]
