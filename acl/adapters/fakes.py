"""In-memory fakes of the ports, for unit tests of the relay and consumer logic.

They keep the real adapters' semantics (lanes claimed exclusively, commit order,
delivered-or-not per message); tests/acl/test_contract_*.py runs the same suite
against fake and real.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from acl.envelope import OutgoingMessage
from acl.ports import Batch, Failure, InboxStore, OutboxStore, PendingChange, Publisher, QuarantineEntry
from acl.spec import LANES


@dataclass
class _Row:
    pending: PendingChange
    lane: int
    handled: bool = False


class _FakeBatch(Batch):
    def __init__(self, store: FakeOutbox, lanes: set[int], changes: list[PendingChange]) -> None:
        self.store, self.lanes, self.changes = store, lanes, changes

    def complete(self, published: Sequence[int], quarantined: Sequence[QuarantineEntry]) -> None:
        with self.store.lock:
            done = set(published) | {q.outbox_id for q in quarantined}
            for row in self.store.rows:
                if row.pending.outbox_id in done:
                    row.handled = True
            self.store.quarantine.extend(quarantined)


class FakeOutbox(OutboxStore):
    def __init__(self, lanes_per_claim: int = LANES) -> None:
        self.rows: list[_Row] = []
        self.quarantine: list[QuarantineEntry] = []
        self.lock = threading.Lock()
        self.locked_lanes: set[int] = set()
        self.lanes_per_claim = lanes_per_claim
        self._changed = threading.Condition()

    def add(self, pending: PendingChange) -> None:
        """What a committing writer does (capture + commit stamp)."""
        with self.lock:
            self.rows.append(_Row(pending, hash(pending.aggregate) % LANES))
        with self._changed:
            self._changed.notify_all()

    @contextmanager
    def claim(self, max_changes: int) -> Iterator[Batch]:
        with self.lock:
            free = sorted({r.lane for r in self.rows if not r.handled} - self.locked_lanes)
            lanes = set(free[: self.lanes_per_claim])
            self.locked_lanes |= lanes
            candidates = sorted(
                (r.pending for r in self.rows if not r.handled and r.lane in lanes),
                key=lambda p: (p.commit_seq, p.outbox_id),
            )
        try:
            yield _FakeBatch(self, lanes, candidates[:max_changes])
        finally:
            with self.lock:
                self.locked_lanes -= lanes

    def wait_for_changes(self, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait(timeout)

    def pending_count(self) -> int:
        with self.lock:
            return sum(1 for r in self.rows if not r.handled)

    def quarantined(self) -> list[QuarantineEntry]:
        return list(self.quarantine)


@dataclass
class FakePublisher(Publisher):
    sent: list[OutgoingMessage] = field(default_factory=list)
    unreachable_keys: set[bytes] = field(default_factory=set)

    def publish(self, messages: Sequence[OutgoingMessage]) -> list[bool]:
        results = []
        for m in messages:
            ok = m.key not in self.unreachable_keys
            if ok:
                self.sent.append(m)
            results.append(ok)
        return results


class FakeInbox(InboxStore):
    def __init__(self) -> None:
        self.applied: dict[str, set[str]] = {}
        self.effects: list[Any] = []
        self.failed: dict[tuple[str, str], Failure] = {}  # committed at once, like the real one

    @contextmanager
    def transaction(self) -> Iterator[list[Any]]:
        staged: list[Any] = []
        applied_before = {k: set(v) for k, v in self.applied.items()}
        try:
            yield staged
        except BaseException:
            self.applied = applied_before
            raise
        self.effects.extend(staged)

    def record(self, tx: Any, consumer: str, event_id: str) -> bool:
        seen = self.applied.setdefault(consumer, set())
        if event_id in seen:
            return False
        seen.add(event_id)
        return True

    def applied_count(self, consumer: str) -> int:
        return len(self.applied.get(consumer, set()))

    def failures(self, tx: Any, consumer: str, event_ids: list[str]) -> dict[str, Failure]:
        return {e: self.failed[(consumer, e)] for e in event_ids if (consumer, e) in self.failed}

    def record_attempt(self, consumer: str, event_id: str, source: str, error: str | None) -> int:
        old = self.failed.get((consumer, event_id))
        replay = old is not None and old.dead_lettered and old.source != source
        attempts = 1 if old is None or replay else old.attempts + 1
        last_error = error if error is not None else (old.last_error if old else "")
        self.failed[(consumer, event_id)] = Failure(attempts, last_error, source, False)
        return attempts

    def record_dead_lettered(self, consumer: str, event_id: str, source: str, error: str) -> None:
        old = self.failed.get((consumer, event_id))
        self.failed[(consumer, event_id)] = Failure(old.attempts if old else 0, error, source, True)

    def forget_failures(self, tx: Any, consumer: str, event_ids: list[str]) -> None:
        for event_id in event_ids:
            self.failed.pop((consumer, event_id), None)
