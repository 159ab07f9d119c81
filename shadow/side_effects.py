"""Side-effect parity: what a candidate would have done (dry run) against what the monolith did.

Pure core: ``Effect`` (one domain event), ``compare_effects`` (events grouped by
type, compared with the JSON diff under the capability's ``side_effects_ignore``
paths; differences are named ``#effects/<event type>/<n>/<field>``), and the
wire format of the ``X-Strangler-Side-Effects`` header a dry-run candidate answers
with. ``OutboxEffects`` reads the monolith's anti-corruption-layer outbox by
correlation id (= X-Request-ID) and translates rows with ``acl.translators``.
"""

from __future__ import annotations

import abc
import base64
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from shadow.diff import Difference, compare_json
from shadow.rules import CapabilityRules

HEADER = "x-strangler-side-effects"
PREFIX = "#effects"
MAX_HEADER_BYTES = 32 * 1024


@dataclass(frozen=True)
class Effect:
    type: str  # e.g. paystream.wallet.credited.v1
    aggregate: str  # e.g. wallet:42
    data: dict[str, Any]


def as_document(effects: Iterable[Effect]) -> dict[str, list[dict[str, Any]]]:
    document: dict[str, list[dict[str, Any]]] = {}
    for effect in sorted(effects, key=lambda e: (e.type, e.aggregate)):
        document.setdefault(effect.type, []).append({"aggregate": effect.aggregate, **effect.data})
    return document


def compare_effects(
    primary: Sequence[Effect], candidate: Sequence[Effect], rules: CapabilityRules
) -> list[Difference]:
    """Differences between the monolith's events and the candidate's would-be events for one request."""
    effect_rules = CapabilityRules(
        name=rules.name, ignore=rules.side_effects_ignore, numeric=rules.numeric, timestamps=rules.timestamps
    )
    found = compare_json(as_document(primary), as_document(candidate), effect_rules)
    return [replace(d, path=PREFIX + d.path) for d in found]


def encode_header(effects: Sequence[Effect], rows: Sequence[dict[str, Any]]) -> str:
    """The header value a dry-run candidate answers with (base64 JSON; bounded)."""
    payload = json.dumps(
        {"events": [asdict(e) for e in effects], "rows": list(rows)}, separators=(",", ":"), default=str
    ).encode()
    if len(payload) > MAX_HEADER_BYTES:
        payload = json.dumps({"overflow": True, "events": len(effects), "rows": len(rows)}).encode()
    return base64.b64encode(payload).decode("ascii")


def decode_header(value: str | None) -> list[Effect] | None:
    """The candidate's would-be events, or None when it sent none (or too many to carry)."""
    if not value:
        return None
    try:
        payload = json.loads(base64.b64decode(value, validate=True))
    except ValueError:
        return None
    if (
        not isinstance(payload, dict)
        or payload.get("overflow")
        or not isinstance(payload.get("events"), list)
    ):
        return None
    return [
        Effect(str(e["type"]), str(e["aggregate"]), dict(e["data"]))
        for e in payload["events"]
        if isinstance(e, dict) and {"type", "aggregate", "data"} <= set(e)
    ]


class PrimaryEffects(abc.ABC):
    """What the monolith actually published for a request id."""

    @abc.abstractmethod
    async def for_request(self, request_id: str) -> list[Effect]: ...


class InMemoryPrimaryEffects(PrimaryEffects):
    def __init__(self, effects: dict[str, list[Effect]] | None = None) -> None:
        self.effects = effects or {}

    async def for_request(self, request_id: str) -> list[Effect]:
        return list(self.effects.get(request_id, []))


_OUTBOX = (
    "SELECT id, table_name, op, before, after, context, correlation_id, captured_at"
    " FROM strangler_acl.outbox WHERE correlation_id = %s ORDER BY id"
)


def effects_from_rows(rows: Iterable[Sequence[Any]]) -> list[Effect]:
    """Outbox rows (id, table, op, before, after, context, correlation id, captured_at) -> events."""
    from acl.domain import Change
    from acl.errors import TranslationError
    from acl.translators import translate, translated_tables

    tables = translated_tables()
    effects: list[Effect] = []
    for oid, table, op, before, after, context, cid, captured in rows:
        if table not in tables:
            continue
        try:
            events = translate(
                Change(f"outbox:{oid}", table, op, before, after, captured, cid, None, context or {})
            )
        except TranslationError as exc:
            effects.append(Effect("untranslatable", f"{table}:{oid}", {"reason": str(exc)}))
            continue
        effects.extend(Effect(e.type, f"{e.aggregate_type}:{e.aggregate_id}", e.data) for e in events)
    return effects


class OutboxEffects(PrimaryEffects):
    """Reads ``strangler_acl.outbox`` of the monolith's database (one short connection per call)."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    async def for_request(self, request_id: str) -> list[Effect]:
        import psycopg

        async with await psycopg.AsyncConnection.connect(self.database_url, autocommit=True) as conn:
            rows = await (await conn.execute(_OUTBOX, (request_id,))).fetchall()
        return effects_from_rows(rows)
