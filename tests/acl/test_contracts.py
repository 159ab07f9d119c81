"""Contracts: every event is validated; breaking schema changes are refused unless versioned."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from acl.contracts import (
    ContractRegistry,
    check_contracts,
    contracts_at_git_ref,
    load_contracts,
    parse_contracts,
)
from acl.domain import DomainEvent
from acl.errors import ContractError, ContractViolation

CURRENT = load_contracts()
CREDITED = "paystream.wallet.credited.v1"


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
