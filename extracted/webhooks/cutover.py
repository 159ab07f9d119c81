"""Who delivers an occurrence's webhooks during the strangling of the monolith's inline path.

Pure: the flag and the decision store are passed in.

The capability ``webhooks.delivery`` is read with ``strangler.capability_flags``:
``monolith`` (the monolith's inline path delivers), ``shadow`` (the monolith delivers; this
service records what it would have sent) or ``extracted`` (only this service delivers).

The mode is decided ONCE per *occurrence* (one thing that happened in the monolith: a
ledger entry, a payout reaching a status, a KYC decision), and both sides obey that one
decision. Reading the flag on each side separately would not do: the monolith reads it
when it commits the write, this service when the event arrives, later; a flip in between
would make both deliver (monolith → extracted) or neither (extracted → monolith).

The rule, applied identically by both sides (``decisions.decide``): the first side to ask
about an occurrence records its proposal in one row of the control plane's database
(``INSERT … ON CONFLICT DO NOTHING``); every later ask, from either side, gets the
recorded mode. The monolith asks inside the write's own transaction, before it commits,
hence before the event can exist on Kafka, and proposes ``mode_of(capability, merchant)``:
for every occurrence the monolith announces, the decision is the mode in force at the
monolith's commit, and this service follows it. Should this service find no decision for
such an occurrence, the monolith delivered it inline (the control plane was unreachable
at its commit, or the event is history replayed by a backfill), so it records
``monolith``. Events with no legacy counterpart (a wallet opened, a payout's own ledger
debit; ``event:<id>``) were never delivered by the monolith; this service decides those
alone, with the flag, when they arrive.

An occurrence is named the same way from the legacy webhook (``legacy_occurrences``) and
from the domain event (``service_occurrence``): the ledger entry id, the payout id and the
status it reached, the KYC submission id and its verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from extracted.webhooks.decisions import Decisions, ModeOf, decide
from strangler.capability_flags import SideMode

CAPABILITY = "webhooks.delivery"

# legacy inline event -> the service's webhook event names it corresponds to
LEGACY_TO_SERVICE: dict[str, tuple[str, ...]] = {
    "wallet.credited": ("wallet.credited",),
    "wallet.debited": ("wallet.debited",),
    "transfer.completed": ("wallet.debited", "wallet.credited"),
    "payout.created": ("payout.requested",),
    "payout.paid": ("payout.status_changed",),
    "payout.failed": ("payout.status_changed",),
    "kyc.verified": ("kyc.verified",),
    "kyc.rejected": ("kyc.rejected",),
}
# ledger entry kinds the monolith announces inline (a payout's debit and reversal it does not)
_LEGACY_LEDGER_KINDS = frozenset({"credit", "debit", "transfer_in", "transfer_out"})
_PAYOUT_STATUSES_ANNOUNCED = frozenset({"paid", "failed"})


def legacy_occurrences(event: str, data: dict[str, Any]) -> list[str]:
    """The occurrences one legacy inline webhook announces (``[]`` for an event we do not map)."""
    if event in ("wallet.credited", "wallet.debited"):
        return [f"ledger:{data['id']}"]
    if event == "transfer.completed":
        return [f"ledger:{data['debit']['id']}", f"ledger:{data['credit']['id']}"]
    if event == "payout.created":
        return [f"payout:{data['id']}:requested"]
    if event in ("payout.paid", "payout.failed"):
        return [f"payout:{data['id']}:{event.split('.')[1]}"]
    if event in ("kyc.verified", "kyc.rejected"):
        return [f"kyc:{data['id']}:{event.split('.')[1]}"]
    return []


def occurrence_of(name: str, event_id: str, data: dict[str, Any]) -> str:
    """The occurrence a delivery row records: the shared name when the monolith announces it
    too, else ``event:<id>``, this service's own (``is_own``)."""
    occurrence, counterpart = service_occurrence(name, event_id, data)
    return occurrence if counterpart else f"event:{event_id}"


def is_own(occurrence: str) -> bool:
    """An occurrence the monolith never announces: this service decides it alone, by the flag."""
    return occurrence.startswith("event:")


def service_occurrence(name: str, event_id: str, data: dict[str, Any]) -> tuple[str, bool]:
    """(occurrence, whether the monolith delivers it inline too) for one of this service's events."""
    if name in ("wallet.credited", "wallet.debited"):
        return f"ledger:{data['entry_id']}", data.get("kind") in _LEGACY_LEDGER_KINDS
    if name == "payout.requested":
        return f"payout:{data['payout_id']}:requested", True
    if name == "payout.status_changed":
        status = str(data.get("status"))
        return f"payout:{data['payout_id']}:{status}", status in _PAYOUT_STATUSES_ANNOUNCED
    if name in ("kyc.verified", "kyc.rejected"):
        return f"kyc:{data['submission_id']}:{name.split('.')[1]}", True
    return f"event:{event_id}", False


def merchant_key(merchant_id: int | str) -> str:
    """The key a canary buckets on, the same on both sides: the merchant."""
    return str(merchant_id)


class Row(Protocol):
    """A delivery as the arbiter sees it (``service.Claimed``)."""

    @property
    def id(self) -> int: ...
    @property
    def occurrence(self) -> str: ...
    @property
    def merchant_id(self) -> int: ...


def flag_arbiter(capability: str, mode_of: ModeOf,
                 store: Decisions) -> Callable[[Sequence[Row]], dict[int, SideMode]]:
    """Who delivers each row: the recorded decision of its occurrence, one statement for the
    whole batch. Where none is recorded: an occurrence of this service's own is this
    service's (the monolith never sends it, so nobody else would); one the monolith
    announces is the monolith's (it decides before its commit, so
    none recorded means it delivered inline: the control plane was down then, or the event
    is history replayed by a backfill)."""
    def arbiter(rows: Sequence[Row]) -> dict[int, SideMode]:
        # a row from before the cutover columns existed has no occurrence: its own then
        occurrence = {r.id: r.occurrence or f"event:delivery-{r.id}" for r in rows}
        # this service's own occurrences have no legacy sender at all: always this service's,
        # whatever the flag (on `monolith` nobody would ever send them)
        fixed: dict[str, SideMode] = {
            occurrence[r.id]: "extracted" if is_own(occurrence[r.id]) else "monolith" for r in rows}
        modes = decide(mode_of, store, capability, {}, by="webhooks-service", fixed=fixed)
        return {r.id: modes[occurrence[r.id]] for r in rows}
    return arbiter
