"""The default relay, pure Python: outbox -> translate -> validate -> CloudEvents -> Kafka -> mark handled.

Woken by LISTEN/NOTIFY (``OutboxStore.wait_for_changes``) with a polling
fallback: the wait has a timeout, so a lost notification costs at most
``poll_interval``. Per batch: lanes are claimed (FOR UPDATE SKIP LOCKED), their
changes translated in commit order, every event validated against its contract,
the batch produced in chunks (one chunk waits for its delivery reports on a
publishing thread while the next is rendered), and only changes whose every
event was acknowledged are marked handled, in the same transaction that still
holds the lanes. Marking starts chunk by chunk as reports arrive (on a marking
thread, so the server updates rows while the next chunk renders); the claim's
commit makes it visible, and a failure anywhere rolls all of it back.

Bad input never blocks other aggregates: a change whose translation or contract
check fails is quarantined (with the reason) and the batch carries on. If the
broker refuses a message, that aggregate's later changes in the batch are held
back too (their order must not overtake it) and everything unacknowledged is
retried on the next batch; redelivered duplicates keep their event ids.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import Any

import structlog

from acl.contracts import ContractRegistry
from acl.domain import event_id
from acl.envelope import OutgoingMessage, to_message
from acl.errors import ContractViolation, PublishError, TranslationError
from acl.metrics import RelayMetrics
from acl.ports import Batch, OutboxStore, PendingChange, Publisher, QuarantineEntry, Relay
from acl.translators import translate

_log = structlog.get_logger("acl.relay")
_Plan = list[tuple[PendingChange, list[OutgoingMessage]]]  # a chunk's changes with their rendered messages


def render(change: PendingChange, contracts: ContractRegistry) -> list[OutgoingMessage]:
    """Translate and validate one change; raises TranslationError/ContractViolation. Pure."""
    messages = []
    for index, event in enumerate(translate(change.change)):
        contracts.validate_emitted(event)
        messages.append(
            to_message(
                event,
                event_id(change.change.source_id, index),
                change.change.correlation_id,
                change.change.traceparent,
                change.outbox_id,
            )
        )
    return messages


class PythonRelay(Relay):
    chunk_size = 500  # changes rendered per publish call; chunks are pipelined within a batch
    clock: Callable[[], datetime] = staticmethod(lambda: datetime.now(UTC))

    def __init__(
        self,
        store: OutboxStore,
        publisher: Publisher,
        contracts: ContractRegistry,
        metrics: RelayMetrics | None = None,
        batch_size: int = 2000,
        poll_interval: float = 1.0,
    ) -> None:
        self.store, self.publisher, self.contracts = store, publisher, contracts
        self.metrics = metrics
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self._executor: ThreadPoolExecutor | None = None
        self._mark_executor: ThreadPoolExecutor | None = None

    def run_once(self) -> int:
        with self.store.claim(self.batch_size) as batch:
            if not batch.changes:
                return 0
            quarantined: list[QuarantineEntry] = []
            published: list[int] = []
            held_back: set[str] = set()
            # Render, publish and mark overlap: while one chunk waits for its delivery reports (the
            # Kafka client releases the GIL), the next chunk is translated and validated, and the
            # rows of chunks already acknowledged are being marked by the server, inside the
            # claim's transaction (nothing is visible before complete commits it).
            # One publishing thread sends chunks in order, so per-partition order is kept.
            # The last chunk is left to complete: marking it early would only add a thread hop.
            sent: deque[tuple[_Plan, Future[list[bool]]]] = deque()
            marks: list[Future[None]] = []
            last = len(batch.changes) - 1
            try:
                for start in range(0, len(batch.changes), self.chunk_size):
                    chunk = self._render(batch.changes[start : start + self.chunk_size], quarantined)
                    messages = [m for _, ms in chunk for m in ms]
                    sent.append((chunk, self._sender().submit(self.publisher.publish, messages)))
                    while sent and sent[0][1].done():  # settle, in order, the chunks already reported
                        early = len(sent) > 1 or start + self.chunk_size <= last  # not the batch's last
                        chunk, acks = sent.popleft()
                        marks += self._settle(batch, chunk, acks, published, held_back, early)
                while sent:
                    chunk, acks = sent.popleft()
                    marks += self._settle(batch, chunk, acks, published, held_back, early=bool(sent))
            finally:
                # a failure re-raised here rolls the claim back: no send or mark may still be running
                pending_sends: list[Future[Any]] = [future for _, future in sent]
                wait(pending_sends + marks)
            for mark in marks:
                mark.result()
            batch.complete(published, quarantined)
            self._count_quarantine(quarantined)
            if held_back:
                raise PublishError(
                    f"broker did not acknowledge events of {len(held_back)} aggregate(s); "
                    "their changes stay in the outbox and will be retried"
                )
            return len(published) + len(quarantined)

    def _settle(
        self,
        batch: Batch,
        chunk: _Plan,
        acks: Future[list[bool]],
        published: list[int],
        held_back: set[str],
        early: bool,
    ) -> list[Future[None]]:
        """A chunk's delivery reports -> the changes that may be marked; ``early``: start marking them.

        ``acks.result()`` re-raises PublishError: the claim rolls back, nothing is marked. A change
        counts only if all its events were acknowledged and no earlier change of its aggregate
        (in this chunk or an earlier one) was held back.
        """
        flags = iter(acks.result())
        now = self.clock()
        delivered_ids: list[int] = []
        for pending, messages in chunk:
            delivered = all([next(flags) for _ in messages])  # consume this change's reports in order
            if delivered and pending.aggregate not in held_back:
                delivered_ids.append(pending.outbox_id)
                self._observe(pending, messages, now)
            else:
                held_back.add(pending.aggregate)
        published += delivered_ids
        return [self._marker().submit(batch.mark_early, delivered_ids)] if early and delivered_ids else []

    def _render(self, changes: list[PendingChange], quarantined: list[QuarantineEntry]) -> _Plan:
        plan: _Plan = []
        for pending in changes:
            try:
                plan.append((pending, render(pending, self.contracts)))
            except TranslationError as exc:
                quarantined.append(QuarantineEntry(pending.change, pending.outbox_id, exc.reason))
            except ContractViolation as exc:
                quarantined.append(
                    QuarantineEntry(
                        pending.change,
                        pending.outbox_id,
                        f"contract {exc.event_type}: {exc.reason}",
                        exc.event_type,
                    )
                )
        return plan

    def _sender(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="acl-relay-publish")
        return self._executor

    def _marker(self) -> ThreadPoolExecutor:
        if self._mark_executor is None:
            self._mark_executor = ThreadPoolExecutor(1, thread_name_prefix="acl-relay-mark")
        return self._mark_executor

    def close(self) -> None:
        """Stop the publishing thread (the store and publisher belong to the caller)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._mark_executor is not None:
            self._mark_executor.shutdown(wait=True)
            self._mark_executor = None

    def run(self, stop: threading.Event) -> None:
        backoff = 0.1
        while not stop.is_set():
            try:
                handled = self.run_once()
                backoff = 0.1
            except PublishError as exc:
                _log.warning("relay.publish_failed", error=str(exc))
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if handled < self.batch_size:
                self.store.wait_for_changes(self.poll_interval)

    def _observe(self, pending: PendingChange, messages: list[OutgoingMessage], now: datetime) -> None:
        if self.metrics is None:
            return
        self.metrics.commit_to_ack.observe(max(0.0, (now - pending.committed_at).total_seconds()))
        for m in messages:
            self.metrics.published.labels(topic=m.topic).inc()

    def _count_quarantine(self, entries: list[QuarantineEntry]) -> None:
        for entry in entries:
            _log.error(
                "relay.quarantined",
                table=entry.change.table,
                source=entry.change.source_id,
                reason=entry.reason,
                correlation_id=entry.change.correlation_id,
            )
            if self.metrics is not None:
                kind = "contract" if entry.event_type else "translation"
                self.metrics.quarantined.labels(table=entry.change.table, reason_kind=kind).inc()
