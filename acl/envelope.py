"""CloudEvents 1.0 envelope in Kafka binary mode: key = aggregate id, attributes in ``ce_*`` headers.

Pure: the same event from the same source always yields the same bytes and id,
so a re-published event is recognisable downstream (the inbox dedups on it).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

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


def _default(o: object) -> object:
    """The SDK's JSON fallback (its ``_JSONEncoderWithDatetime``): datetimes RFC 3339, UTC as ``Z``."""
    if isinstance(o, datetime):
        text = o.isoformat()
        return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


class _Encoder(json.JSONEncoder):
    def default(self, o: object) -> object:
        return _default(o)


def _data_encoder() -> Callable[[dict[str, Any]], str]:
    """``json.dumps(data, cls=<the SDK's encoder>)``, the same text, without its per-call set-up.

    ``JSONEncoder.encode`` builds a C encoder for every call; this builds it once. It skips
    only the circular-reference check (a payload is a tree of translator output, never cyclic).
    """
    c_encoder = getattr(json.encoder, "c_make_encoder", None)
    if c_encoder is None:  # an interpreter without the C accelerator
        return _Encoder().encode
    # the arguments JSONEncoder().iterencode passes: no markers, ensure_ascii, default separators,
    # no sort_keys, no skipkeys, allow_nan
    ascii_string = json.encoder.encode_basestring_ascii
    render = c_encoder(None, _default, ascii_string, None, ": ", ", ", False, False, True)
    return lambda data: "".join(render(data, 0))


_ENCODE_DATA = _data_encoder()
_SOURCE_HEADER = ("ce_source", SOURCE.encode())
_SPECVERSION_HEADER = ("ce_specversion", b"1.0")
_CONTENT_TYPE_HEADER = ("content-type", b"application/json")


@dataclass(frozen=True)
class _TypeHeaders:
    """What every event of one type shares, encoded once."""

    topic: str
    ce_type: tuple[str, bytes]
    subject_prefix: str


@lru_cache(maxsize=1024)
def _type_headers(event_type: str, aggregate_type: str) -> _TypeHeaders:
    return _TypeHeaders(topic_for(event_type), ("ce_type", event_type.encode()), f"{aggregate_type}/")


def to_message(
    event: DomainEvent,
    event_id: str,
    correlation_id: str | None,
    traceparent: str | None,
    source_ref: int | None = None,
) -> OutgoingMessage:
    """The CloudEvents binary-mode record, encoded directly: the same bytes as ``to_message_sdk``.

    The relay renders every event through here, so it skips what the SDK does per event and
    cannot change for ours (building a ``CloudEvent``, re-validating attributes we set ourselves,
    a regex on the content type, sorting the headers): the headers are written in their sorted
    order, the per-type ones encoded once. ``tests/acl/test_envelope.py`` holds it byte for
    byte to the SDK's output for a sample of every contract. Anything unusual (a payload that is
    not a JSON object, an empty type or id) goes through the SDK, which raises what it raises.
    """
    data = event.data
    type_ = event.type
    if not (type(data) is dict and type_ and event_id and type(type_) is str and type(event_id) is str):
        return to_message_sdk(event, event_id, correlation_id, traceparent, source_ref)
    shared = _type_headers(type_, event.aggregate_type)
    trace = trace_context(event_id, traceparent).encode()
    key = event.aggregate_id.encode()
    time = event.occurred_at.astimezone(UTC).isoformat()
    if time.endswith("+00:00"):
        time = time[:-6] + "Z"
    # sorted by header name, as to_message_sdk sorts them; the plain traceparent goes last
    headers: list[tuple[str, bytes]] = []
    if correlation_id:
        headers.append(("ce_correlationid", str(correlation_id).encode()))
    headers += [
        ("ce_id", event_id.encode()),
        ("ce_partitionkey", key),
        _SOURCE_HEADER,
        _SPECVERSION_HEADER,
        ("ce_subject", f"{shared.subject_prefix}{event.aggregate_id}".encode()),
        ("ce_time", time.encode()),
        ("ce_traceparent", trace),
        shared.ce_type,
        _CONTENT_TYPE_HEADER,
        ("traceparent", trace),
    ]
    return OutgoingMessage(shared.topic, key, _ENCODE_DATA(data).encode(), headers, event_id, source_ref)


def to_message_sdk(
    event: DomainEvent,
    event_id: str,
    correlation_id: str | None,
    traceparent: str | None,
    source_ref: int | None = None,
) -> OutgoingMessage:
    """The reference encoding, through the ``cloudevents`` SDK (what ``to_message`` must equal)."""
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
