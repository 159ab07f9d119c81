"""Shadow comparison: what the monolith's inline path delivered against what this service would
have delivered, per occurrence and endpoint URL. Pure (``load_*`` are the only I/O).

A pair matches when both sides have it, the service's event corresponds to the legacy one
(``cutover.LEGACY_TO_SERVICE``) and the amounts agree. The formats differ by design (the
service signs ``t=…,v1=…`` over its own JSON body; the monolith ``sha256=…`` over its legacy
envelope), so bodies are compared by the facts they carry, not byte for byte. Service
events with no legacy counterpart (a payout's ledger debit, a wallet opened) are counted
apart as ``new``, not as differences.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import psycopg

from extracted.webhooks.cutover import LEGACY_TO_SERVICE, legacy_occurrences, service_occurrence


@dataclass(frozen=True)
class LegacySent:
    delivery_id: int
    url: str
    event: str
    payload: str  # the legacy envelope {"id", "event", "created_at", "data"}
    response_code: int | None
    created_at: datetime | None = None


@dataclass(frozen=True)
class ServiceWould:
    delivery_id: int
    url: str
    event_name: str
    event_id: str
    payload: str  # {"id", "type", "created_at", "data"}
    status: str
    decided_mode: str
    signature: str  # the header a shadowed delivery would have carried ('' otherwise)
    created_at: datetime | None = None


@dataclass(frozen=True)
class Pair:
    occurrence: str
    url: str
    legacy: LegacySent | None
    service: ServiceWould | None
    differences: tuple[str, ...]

    @property
    def matches(self) -> bool:
        return not self.differences


@dataclass
class Comparison:
    pairs: list[Pair] = field(default_factory=list)
    new: int = 0  # service deliveries with no legacy counterpart
    unreadable: list[str] = field(default_factory=list)  # legacy rows we could not interpret

    @property
    def matched(self) -> int:
        return sum(p.matches for p in self.pairs)

    @property
    def differing(self) -> list[Pair]:
        return [p for p in self.pairs if not p.matches]


def _data(payload: str) -> dict[str, Any]:
    data = json.loads(payload).get("data")
    if not isinstance(data, dict):
        raise ValueError("the payload has no data object")
    return data


def _amount(value: Any) -> Decimal | None:
    if isinstance(value, dict):
        value = value.get("amount")
    try:
        return Decimal(str(value).replace(",", "")) if value is not None else None
    except InvalidOperation:
        return None


def _legacy_amount(event: str, data: dict[str, Any], occurrence: str) -> Decimal | None:
    if event == "transfer.completed":  # two ledger rows: the one this occurrence names
        entry = occurrence.split(":")[1]
        side: dict[str, Any] = next(
            (data[k] for k in ("debit", "credit") if str(data[k].get("id")) == entry), {})
        return _amount(side.get("amount"))
    return _amount(data.get("amount"))


def _differences(occurrence: str, legacy: LegacySent, legacy_data: dict[str, Any],
                 service: ServiceWould, service_data: dict[str, Any]) -> tuple[str, ...]:
    found = []
    expected = LEGACY_TO_SERVICE.get(legacy.event, ())
    if service.event_name not in expected:
        found.append(f"event: monolith {legacy.event} ~ service {service.event_name} "
                     f"(expected {' or '.join(expected) or 'none'})")
    mine, theirs = _legacy_amount(legacy.event, legacy_data, occurrence), _amount(service_data.get("amount"))
    if mine is not None and theirs is not None and mine != theirs:
        found.append(f"amount: monolith {mine} ≠ service {theirs}")
    return tuple(found)


def compare(legacy: Iterable[LegacySent], service: Iterable[ServiceWould]) -> Comparison:
    result = Comparison()
    theirs: dict[tuple[str, str], tuple[ServiceWould, dict[str, Any]]] = {}
    for s in service:
        data = _data(s.payload)
        occurrence, counterpart = service_occurrence(s.event_name, s.event_id, data)
        if not counterpart:
            result.new += 1
            continue
        theirs[(occurrence, s.url)] = (s, data)
    for sent in legacy:
        try:
            data = _data(sent.payload)
            occurrences = legacy_occurrences(sent.event, data)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            result.unreadable.append(f"monolith delivery {sent.delivery_id}: {exc!r}")
            continue
        for occurrence in occurrences:
            match = theirs.pop((occurrence, sent.url), None)
            if match is None:
                result.pairs.append(Pair(occurrence, sent.url, sent, None,
                                         ("missing: the service would not have delivered it",)))
            else:
                result.pairs.append(Pair(occurrence, sent.url, sent, match[0],
                                         _differences(occurrence, sent, data, *match)))
    for (occurrence, url), (s, _) in sorted(theirs.items()):
        result.pairs.append(Pair(occurrence, url, None, s,
                                 ("extra: the monolith did not deliver it (yet)",)))
    return result


def load_legacy(monolith_database_url: str, since: datetime) -> list[LegacySent]:
    with psycopg.connect(monolith_database_url) as conn:
        rows = conn.execute(
            "SELECT d.id, e.url, d.event, d.payload, d.response_code, d.created_at"
            " FROM hooks_webhookdelivery d JOIN hooks_webhookendpoint e ON e.id = d.endpoint_id"
            " WHERE d.created_at >= %s ORDER BY d.id",
            (since,)).fetchall()
    return [LegacySent(*row) for row in rows]


def load_service(webhooks_database_url: str, since: datetime) -> list[ServiceWould]:
    with psycopg.connect(webhooks_database_url) as conn:
        rows = conn.execute(
            "SELECT d.id, e.url, d.event_name, d.event_id, d.payload, d.status, d.decided_mode,"
            " d.shadow_signature, d.created_at FROM webhooks_delivery d"
            " JOIN webhooks_endpoint e ON e.id = d.endpoint_id"
            " WHERE d.created_at >= %s ORDER BY d.id", (since,)).fetchall()
    return [ServiceWould(*row) for row in rows]
