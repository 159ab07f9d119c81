"""CloudEvents 1.0 envelope in Kafka binary mode: key = aggregate id, attributes in ``ce_*`` headers.

Pure: the same event from the same source always yields the same bytes and id,
so a re-published event is recognisable downstream (the inbox dedups on it).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC

from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event, to_binary_event
from cloudevents.core.v1.event import CloudEvent

from acl.domain import DomainEvent

SOURCE = "urn:strangler:paystream-monolith"
# confluent-kafka hands headers over as a list of pairs (or a dict); values may be str or None
Headers = Sequence[tuple[str, str | bytes | None]] | Mapping[str, str | bytes | None] | None
_TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


@dataclass(frozen=True)
class OutgoingMessage:
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    event_id: str
    source_ref: int | None = None  # outbox row id the relay marks once delivered


def topic_for(event_type: str) -> str:
    """``paystream.wallet.credited.v1`` -> ``paystream.wallet``: one topic per aggregate type keeps order."""
    domain, aggregate = event_type.split(".")[:2]
    return f"{domain}.{aggregate}"


def trace_context(event_id: str, traceparent: str | None) -> str:
    """The caller's W3C traceparent when it sent one; otherwise a new trace rooted at this event."""
    if traceparent and _TRACEPARENT.match(traceparent):
        return traceparent
    digest = hashlib.sha256(event_id.encode()).hexdigest()
    return f"00-{digest[:32]}-{digest[32:48]}-01"


def to_message(
    event: DomainEvent,
    event_id: str,
    correlation_id: str | None,
    traceparent: str | None,
    source_ref: int | None = None,
) -> OutgoingMessage:
    trace = trace_context(event_id, traceparent)
    attributes: dict[str, object] = {
        "specversion": "1.0",
        "id": event_id,
        "source": SOURCE,
        "type": event.type,
        "subject": f"{event.aggregate_type}/{event.aggregate_id}",
        "time": event.occurred_at.astimezone(UTC),
        "datacontenttype": "application/json",
        "partitionkey": event.aggregate_id,
        "traceparent": trace,
    }
    if correlation_id:
        attributes["correlationid"] = correlation_id
    binary = to_binary_event(CloudEvent(attributes=attributes, data=event.data))
    headers = sorted(binary.headers.items())
    # plain W3C header too, so tracing instrumentation that ignores ce_* still links the spans
    headers.append(("traceparent", trace.encode()))
    return OutgoingMessage(
        topic_for(event.type), event.aggregate_id.encode(), binary.value, headers, event_id, source_ref
    )


def parse_message(key: bytes | None, value: bytes | None, headers: Headers) -> CloudEvent:
    """A Kafka record back into a CloudEvent (consumers use this)."""
    items = headers.items() if isinstance(headers, Mapping) else (headers or [])
    merged = {
        name: val.encode() if isinstance(val, str) else val
        for name, val in items
        if name != "traceparent" and val is not None
    }
    return from_binary_event(KafkaMessage(headers=merged, key=key, value=value or b""))  # type: ignore[return-value]
