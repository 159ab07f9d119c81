"""Who delivers during the strangling: occurrences named alike on both sides, one decision per
occurrence that both sides obey, the monolith's inline switch, and the shadow comparison."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

import pytest

from extracted.webhooks import cutover, parity
from extracted.webhooks.decisions import MemoryDecisions, decide
from extracted.webhooks.errors import DecisionUnavailable
from strangler.capability_flags import FlagUnavailable, SideMode


class Flag:
    """The flag as the control plane would answer it, flippable by the test."""

    def __init__(self, mode: SideMode = "monolith") -> None:
        self.mode: SideMode = mode
        self.asked: list[tuple[str, str | None]] = []

    def __call__(self, capability: str, key: str | None = None) -> SideMode:
        self.asked.append((capability, key))
        return self.mode


def _down(capability: str, key: str | None = None) -> SideMode:
    raise FlagUnavailable("control plane down")


LEGACY_AND_SERVICE = [  # (legacy event, legacy data, service event, service data)
    ("wallet.credited", {"id": 7, "amount": "2.50"},
     "wallet.credited", {"entry_id": "7", "kind": "credit", "amount": {"amount": "2.50"}}),
    ("wallet.debited", {"id": 8, "amount": "1.00"},
     "wallet.debited", {"entry_id": "8", "kind": "debit", "amount": {"amount": "1.00"}}),
    ("payout.created", {"id": 3}, "payout.requested", {"payout_id": "3"}),
    ("payout.paid", {"id": 3}, "payout.status_changed", {"payout_id": "3", "status": "paid"}),
    ("payout.failed", {"id": 4}, "payout.status_changed", {"payout_id": "4", "status": "failed"}),
    ("kyc.verified", {"id": 5}, "kyc.verified", {"submission_id": "5"}),
    ("kyc.rejected", {"id": 6}, "kyc.rejected", {"submission_id": "6"}),
]


@pytest.mark.parametrize(("legacy", "legacy_data", "name", "data"), LEGACY_AND_SERVICE)
def test_both_sides_name_an_occurrence_alike(legacy: str, legacy_data: dict[str, Any], name: str,
                                             data: dict[str, Any]) -> None:
    occurrence, counterpart = cutover.service_occurrence(name, "evt-1", data)
    assert cutover.legacy_occurrences(legacy, legacy_data) == [occurrence]
    assert counterpart
    assert name in cutover.LEGACY_TO_SERVICE[legacy]


def test_a_transfer_is_two_ledger_occurrences_and_payout_ledger_rows_have_no_legacy_counterpart() -> None:
    transfer = {"debit": {"id": 10}, "credit": {"id": 11}}
    assert cutover.legacy_occurrences("transfer.completed", transfer) == ["ledger:10", "ledger:11"]
    assert cutover.service_occurrence("wallet.debited", "e", {"entry_id": "10", "kind": "transfer_out"}) == (
        "ledger:10", True)
    assert cutover.service_occurrence("wallet.debited", "e", {"entry_id": "12", "kind": "payout"})[1] is False
    assert cutover.service_occurrence("payout.status_changed", "e",
                                      {"payout_id": "3", "status": "processing"})[1] is False
    assert cutover.service_occurrence("wallet.opened", "evt-9", {"wallet_id": "1"}) == ("event:evt-9", False)


def test_the_first_decision_stands_for_both_sides_whatever_the_flag_says_later() -> None:
    flag, store = Flag("monolith"), MemoryDecisions()
    first = decide(flag, store, cutover.CAPABILITY, {"ledger:1": "42"}, by="monolith")
    flag.mode = "extracted"  # the flip lands between the monolith's commit and the event's arrival
    later = decide(flag, store, cutover.CAPABILITY, {"ledger:1": "42", "ledger:2": "42"}, by="service")
    assert first == {"ledger:1": "monolith"}
    assert later == {"ledger:1": "monolith", "ledger:2": "extracted"}
    assert flag.asked[0] == (cutover.CAPABILITY, "42")  # bucketed by merchant


def test_concurrent_first_asks_agree() -> None:
    flag, store = Flag("shadow"), MemoryDecisions()
    answers: list[dict[str, SideMode]] = []

    def ask(mode: SideMode) -> None:
        answers.append(decide(lambda c, k: mode, store, "cap", {"occ": "1"}, by=mode))

    threads = [threading.Thread(target=ask, args=(m,)) for m in ("monolith", "extracted") * 8]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({a["occ"] for a in answers}) == 1
    assert not flag.asked


def test_an_unreadable_flag_is_a_decision_unavailable_and_records_nothing() -> None:
    store = MemoryDecisions()
    with pytest.raises(DecisionUnavailable, match="control plane down"):
        decide(_down, store, "cap", {"occ": "1"}, by="service")
    assert store.rows == {}


# -- the monolith's inline switch ------------------------------------------------------------
def test_the_monolith_delivers_inline_unless_the_occurrence_is_decided_extracted() -> None:
    from monolith.hooks.delivery import Cutover

    flag, store = Flag("monolith"), MemoryDecisions()
    inline = Cutover(flag, store)
    assert inline.inline(1, "wallet.credited", {"id": 1})
    flag.mode = "shadow"
    assert inline.inline(1, "wallet.credited", {"id": 2})
    flag.mode = "extracted"
    assert not inline.inline(1, "transfer.completed", {"debit": {"id": 3}, "credit": {"id": 4}})
    assert store.rows[(cutover.CAPABILITY, "ledger:4")] == "extracted"
    assert inline.inline(1, "wallet.credited", {"id": 1})  # decided monolith before the flip: stays so
    assert inline.inline(1, "merchant.renamed", {"x": 1})  # no counterpart: the legacy path keeps it


def test_when_nobody_can_say_the_monolith_keeps_delivering() -> None:
    from monolith.hooks.delivery import Cutover

    assert Cutover(_down, MemoryDecisions()).inline(1, "wallet.credited", {"id": 1})


# -- shadow comparison ---------------------------------------------------------------------------
def _legacy(i: int, event: str, data: dict[str, Any], url: str = "http://r/hook") -> parity.LegacySent:
    return parity.LegacySent(i, url, event, json.dumps({"id": "x", "event": event, "data": data}), 200)


def _service(i: int, name: str, data: dict[str, Any], url: str = "http://r/hook") -> parity.ServiceWould:
    body = json.dumps({"id": f"evt-{i}", "type": name, "data": data})
    return parity.ServiceWould(i, url, name, f"evt-{i}", body, "shadowed", "shadow", "")


def test_comparison_matches_pairs_and_names_each_difference() -> None:
    legacy = [
        _legacy(1, "wallet.credited", {"id": 1, "amount": "2.50"}),
        _legacy(2, "transfer.completed", {"debit": {"id": 2, "amount": "5.00"},
                                          "credit": {"id": 3, "amount": "5.00"}}),
        _legacy(3, "wallet.credited", {"id": 4, "amount": "1.00"}),  # service amount differs
        _legacy(4, "kyc.verified", {"id": 9}),  # service has nothing
        _legacy(5, "wallet.credited", "not an object"),  # type: ignore[arg-type]
    ]
    service = [
        _service(1, "wallet.credited", {"entry_id": "1", "kind": "credit", "amount": {"amount": "2.50"}}),
        _service(2, "wallet.debited", {"entry_id": "2", "kind": "transfer_out",
                                       "amount": {"amount": "5.00"}}),
        _service(3, "wallet.credited", {"entry_id": "3", "kind": "transfer_in",
                                        "amount": {"amount": "5.00"}}),
        _service(4, "wallet.credited", {"entry_id": "4", "kind": "credit", "amount": {"amount": "1.01"}}),
        _service(5, "wallet.debited", {"entry_id": "5", "kind": "payout", "amount": {"amount": "9.00"}}),
        _service(6, "wallet.credited", {"entry_id": "6", "kind": "credit", "amount": {"amount": "3.00"}}),
    ]
    result = parity.compare(legacy, service)
    assert result.matched == 3
    assert result.new == 1  # the payout's ledger debit
    assert len(result.unreadable) == 1
    differences = {p.occurrence: p.differences for p in result.differing}
    assert differences == {
        "ledger:4": ("amount: monolith 1.00 ≠ service 1.01",),
        "kyc:9:verified": ("missing: the service would not have delivered it",),
        "ledger:6": ("extra: the monolith did not deliver it (yet)",),
    }


def test_a_different_endpoint_url_is_not_a_match() -> None:
    result = parity.compare([_legacy(1, "wallet.credited", {"id": 1}, url="http://a/")],
                            [_service(1, "wallet.credited", {"entry_id": "1", "kind": "credit"}, url="http://b/")])
    assert result.matched == 0
    assert len(result.differing) == 2


# -- the service's side ------------------------------------------------------------------------
@dataclass(frozen=True)
class _Claimed:
    id: int
    occurrence: str
    merchant_id: int = 42


def _claimed(i: int, occurrence: str) -> _Claimed:
    return _Claimed(i, occurrence)


def test_the_service_obeys_the_monolith_and_takes_an_undecided_announced_occurrence_as_its() -> None:
    flag, store = Flag("monolith"), MemoryDecisions()
    decide(flag, store, cutover.CAPABILITY, {"ledger:1": "42"}, by="monolith")  # at the monolith's commit
    flag.mode = "extracted"
    arbiter = cutover.flag_arbiter(cutover.CAPABILITY, flag, store)
    modes = arbiter([_claimed(1, "ledger:1"), _claimed(2, "ledger:2"), _claimed(3, "event:evt-3"),
                     _claimed(4, "")])
    # 1: recorded by the monolith; 2: announced but undecided (control plane was down, or a
    # backfill): the monolith delivered it; 3 and 4 (a row from before): the service's own
    assert modes == {1: "monolith", 2: "monolith", 3: "extracted", 4: "extracted"}
    assert store.rows[(cutover.CAPABILITY, "ledger:2")] == "monolith"


def test_own_occurrences_are_named_by_event_and_announced_ones_by_what_happened() -> None:
    assert cutover.occurrence_of("wallet.credited", "e1", {"entry_id": "5", "kind": "credit"}) == "ledger:5"
    assert cutover.occurrence_of("wallet.debited", "e2", {"entry_id": "6", "kind": "payout"}) == "event:e2"
    assert cutover.is_own("event:e2") and not cutover.is_own("ledger:5")


def test_with_the_flag_unreadable_every_occurrence_is_still_decided_without_it() -> None:
    """Announced ones are the monolith's; this service's own are this service's on any flag:
    the monolith never sends them, so deciding them by the flag would leave them unsent."""
    store = MemoryDecisions()
    assert cutover.flag_arbiter("cap", _down, store)([_claimed(1, "ledger:1")]) == {1: "monolith"}
    assert cutover.flag_arbiter("cap", _down, store)([_claimed(2, "event:evt-2")]) == {2: "extracted"}


def test_a_transfer_s_two_occurrences_get_one_answer_even_if_the_flag_changes_between_reads() -> None:
    """A cache refresh between two reads of the flag must not split one event's occurrences: the
    legacy path delivers an event whole or not at all, so a split would send one leg twice."""
    answers: list[SideMode] = ["monolith", "extracted"]

    def refreshing(capability: str, key: str | None = None) -> SideMode:
        return answers.pop(0)  # the second read sees the flip

    occurrences = dict.fromkeys(cutover.legacy_occurrences("transfer.completed",
                                                           {"debit": {"id": 10}, "credit": {"id": 11}}),
                                "merchant:3")
    modes = decide(refreshing, MemoryDecisions(), "webhooks.delivery", occurrences, by="monolith")
    assert modes == {"ledger:10": "monolith", "ledger:11": "monolith"}
    assert answers == ["extracted"]  # one read for the one key
