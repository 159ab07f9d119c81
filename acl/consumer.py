"""The consumer library every extracted service uses: at-least-once delivery, exactly-once effects.

- Messages are taken in batches (the first one waited for, then whatever the client has
  already fetched, up to ``batch_size``) and applied in ONE inbox transaction per batch on
  the service's own database: the inbox rows and the effects commit together, so a
  redelivered event is skipped, and the commit cost is paid once per batch, not per event.
- Offsets are stored only after the batch commits (``enable.auto.offset.store=false``);
  the stored offsets are committed periodically, on rebalance and on close.
- A batch that fails is rolled back and replayed one event per transaction, so one poison
  event cannot hold the others back: an event that fails ``max_attempts`` times (the failed
  batch counting as the first attempt of the event that raised) goes to the dead-letter
  topic with the error in its headers; then the consumer moves on.
- Attempts are counted in the consumer's own database (``InboxStore.record_attempt``), not
  in memory: a consumer restarted (deploy, crash, rebalance) mid-retry carries on from the
  count it had, instead of retrying a poison event forever. Once an event is known to fail,
  each further attempt is recorded *before* it runs, so an attempt that kills the process
  counts too; a batch holding a known failure goes straight to the one-by-one path. An
  event dead-lettered and then redelivered from the same offset (the consumer died before
  the offset was committed) is skipped, not dead-lettered twice; the same event replayed
  at a new offset is counted afresh.
- Handlers: ``handler(event, tx)`` per event, or a ``BatchHandler`` that sees a whole
  transaction's new events and hears when that transaction committed.
- ``stop`` is honoured between batches; ``close`` commits what was stored.
- Lag (high watermark - position) is a Prometheus gauge per partition.
- ``on_batch`` (optional) hears each polled batch's :class:`BatchStats`: its size, how long
  its oldest message waited between the producer and this poll, and the time spent on the
  inbox write, the handler and the commit; where the event-to-visible lag goes.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import structlog
from cloudevents.core.base import BaseCloudEvent
from confluent_kafka import (
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from acl.envelope import parse_message
from acl.errors import ConsumerError
from acl.metrics import ConsumerMetrics
from acl.ports import Failure, InboxStore

Handler = Callable[[BaseCloudEvent, Any], None]
_log = structlog.get_logger("acl.consumer")


@runtime_checkable
class BatchHandler(Protocol):
    """A handler that applies one transaction's new events together and keeps per-transaction state.

    ``apply_batch`` is called once per transaction that has new events (in offset order
    per partition); ``committed`` right after that transaction committed. A batch that
    raised is rolled back and replayed event by event, one ``apply_batch`` each.
    """

    def apply_batch(self, events: Sequence[BaseCloudEvent], tx: Any) -> None: ...

    def committed(self) -> None: ...


@dataclass
class BatchStats:
    """Where one polled batch's time went (seconds); what ``on_batch`` observers receive.

    ``waited`` is the oldest message's age at the poll that took it, from its Kafka timestamp
    (the producer's clock on this host, or the broker's): producer -> broker -> this poll.
    The other stages add up over every transaction the batch took (more than one when it was
    replayed event by event).
    """

    size: int
    waited: float | None = None  # None: the messages carry no timestamp
    inbox: float = 0.0  # inbox rows written (and known failures looked up)
    handler: float = 0.0  # the handler's effects
    commit: float = 0.0
    transactions: int = 0
    replayed: bool = False  # failed (or held a known failure): replayed one event per transaction


BatchObserver = Callable[[BatchStats], None]


class _Blame:
    """Which event a failing batch was applying when it raised (None: it failed at commit)."""

    event: BaseCloudEvent | None = None


class _KnownFailures(Exception):
    """A batch holds events that failed before: roll back, take the one-by-one path."""

    def __init__(self, known: dict[str, Failure]) -> None:
        super().__init__(f"{len(known)} event(s) failed before")
        self.known = known


def _source(msg: Message) -> str:
    return f"{msg.topic()}/{msg.partition()}/{msg.offset()}"


def _waited(batch: list[Message]) -> float | None:
    """Seconds since the oldest Kafka timestamp in ``batch`` (None: none carries one)."""
    stamps = [ms for kind, ms in (m.timestamp() for m in batch) if kind != TIMESTAMP_NOT_AVAILABLE]
    return max(0.0, time.time() - min(stamps) / 1000) if stamps else None


class _Remembered(Exception):
    """The error an earlier run of this consumer recorded for an event whose attempts are used up."""


def _describe(error: Exception) -> str:
    return str(error) if isinstance(error, _Remembered) else f"{type(error).__name__}: {error}"


class EventConsumer:
    lag_interval = 5.0  # seconds between lag reports
    batch_size = 500  # most messages applied in one transaction

    def __init__(
        self,
        bootstrap_servers: str,
        group: str,
        topics: list[str],
        handler: Handler | BatchHandler,
        inbox: InboxStore,
        dead_letter_topic: str,
        max_attempts: int = 3,
        metrics: ConsumerMetrics | None = None,
        overrides: Mapping[str, object] | None = None,
        *,
        on_batch: BatchObserver | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ConsumerError("max_attempts must be at least 1")
        self.group, self.topics, self.handler, self.inbox = group, topics, handler, inbox
        self.dead_letter_topic, self.max_attempts, self.metrics = dead_letter_topic, max_attempts, metrics
        self.config: dict[str, object] = {
            "bootstrap.servers": bootstrap_servers,
            "group.id": group,
            "enable.auto.commit": True,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 1000,
            **(overrides or {}),
        }
        self.dlq_config = {"bootstrap.servers": bootstrap_servers, "enable.idempotence": True, "acks": "all"}
        self._batch_handler = handler if isinstance(handler, BatchHandler) else None
        self._consumer: Consumer | None = None
        self._dlq: Producer | None = None
        self._last_lag = 0.0
        self.on_batch = on_batch
        self._stats: BatchStats | None = None

    # ---- lifecycle ---------------------------------------------------------------------
    def _client(self) -> Consumer:
        if self._consumer is None:
            self._consumer = Consumer(self.config)
            self._consumer.subscribe(self.topics, on_revoke=self._on_revoke)
        return self._consumer

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # callbacks run inside poll()/consume(), never while a batch is applied: commit what
        # was stored so the next owner starts right after it
        try:
            consumer.commit(asynchronous=False)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError._NO_OFFSET:
                _log.warning("consumer.commit_on_revoke_failed", error=str(exc))

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                self.poll_once(0.5)
        finally:
            self.close()

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()  # commits stored offsets, leaves the group cleanly
            self._consumer = None
        if self._dlq is not None:
            self._dlq.flush(10)
            self._dlq = None

    # ---- one batch -----------------------------------------------------------------------
    def poll_once(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for a message, take what else is already fetched, apply them."""
        consumer = self._client()
        first = consumer.poll(timeout)
        self._report_lag(consumer)
        if first is None:
            return False
        # consume(timeout=0) only drains what the client already holds: a lone event is not
        # kept waiting for companions, a backlog is taken batch_size at a time
        polled = [first, *consumer.consume(self.batch_size - 1, 0)] if self.batch_size > 1 else [first]
        batch: list[Message] = []
        failure: KafkaError | None = None
        for msg in polled:
            error = msg.error()
            if error is None:
                batch.append(msg)
            elif error.code() != KafkaError._PARTITION_EOF:
                failure = error
                break
        if batch:
            self._stats = BatchStats(len(batch), _waited(batch)) if self.on_batch is not None else None
            self._process(batch)
            self._store_offsets(consumer, batch)
            if self._stats is not None and self.on_batch is not None:
                self.on_batch(self._stats)
        if failure is not None:
            raise ConsumerError(f"Kafka consumer error: {failure}")
        return bool(batch)

    def _process(self, msgs: list[Message]) -> None:
        parsed: list[tuple[Message, BaseCloudEvent]] = []
        for msg in msgs:
            try:
                parsed.append((msg, parse_message(msg.key(), msg.value(), msg.headers())))
            except Exception as exc:  # unparseable: retrying cannot help
                self._dead_letter(msg, exc, attempts=1)
        if not parsed:
            return
        blame = _Blame()
        known: dict[str, Failure] = {}
        batch_error: Exception | None = None
        try:
            self._apply([event for _, event in parsed], blame, check_known=True)
            return
        except _KnownFailures as exc:
            known = exc.known
            if self._stats is not None:
                self._stats.replayed = True
        except Exception as exc:
            _log.warning("consumer.batch_failed", size=len(parsed), error=str(exc))
            batch_error = exc
            if self._stats is not None:
                self._stats.replayed = True
            if blame.event is not None:  # the failed batch was its first attempt: remember it
                for msg, event in parsed:
                    if event is blame.event:
                        attempts = self.inbox.record_attempt(self.group, event.get_id(), _source(msg), None)
                        known[event.get_id()] = Failure(attempts, _describe(exc), _source(msg), False)
                time.sleep(min(0.05 * 2, 1.0))  # brief backoff before the in-place retry
        for msg, event in parsed:  # replay one by one: only the poison event is dead-lettered
            cause = batch_error if event is blame.event else None
            self._process_one(msg, event, known.get(event.get_id()), cause)

    def _apply(self, events: list[BaseCloudEvent], blame: _Blame, check_known: bool = False,
               forget: bool = False) -> None:
        """One transaction: inbox rows for ``events``, effects of the new ones; counts after commit."""
        stats, started = self._stats, time.perf_counter()
        with self.inbox.transaction() as tx:
            ids = [e.get_id() for e in events]
            if check_known:
                fresh, known = self.inbox.record_unless_failed(tx, self.group, ids)
                if known:
                    raise _KnownFailures(known)
            else:
                fresh = self._record(tx, ids)
            recorded = time.perf_counter()
            new: list[BaseCloudEvent] = []
            for event in events:
                if event.get_id() in fresh:
                    fresh.discard(event.get_id())  # a second copy in the same batch is a duplicate
                    new.append(event)
            if new and self._batch_handler is not None:
                self._batch_handler.apply_batch(new, tx)
            elif new:
                handler: Handler = self.handler  # type: ignore[assignment]
                for event in new:
                    blame.event = event
                    handler(event, tx)
                blame.event = None
            if forget:
                self.inbox.forget_failures(tx, self.group, ids)
            handled = time.perf_counter()
        if stats is not None:
            stats.inbox += recorded - started
            stats.handler += handled - recorded
            stats.commit += time.perf_counter() - handled
            stats.transactions += 1
        if new and self._batch_handler is not None:
            self._batch_handler.committed()
        self._count("applied", len(new))
        self._count("duplicates", len(events) - len(new))

    def _record(self, tx: Any, event_ids: list[str]) -> set[str]:
        return set(self.inbox.record_many(tx, self.group, event_ids))

    def _process_one(
        self, msg: Message, event: BaseCloudEvent, known: Failure | None, cause: Exception | None = None
    ) -> None:
        """Apply one event in its own transaction, up to ``max_attempts`` counted in the database.

        ``known`` is what the database remembers about it (None: it never failed, so its next
        attempt is not recorded beforehand: recording every event of a failed batch would cost
        a transaction each for the events that were merely next to the poison one). ``cause``
        is the exception of the failed batch, when this event raised it.
        """
        source, event_id = _source(msg), event.get_id()
        if known is not None and known.dead_lettered and known.source == source:
            _log.info("consumer.already_dead_lettered", event_id=event_id, source=source)
            return
        attempts = 0 if known is None or known.dead_lettered else known.attempts
        error: str | None = known.last_error if known is not None and not known.dead_lettered else None
        suspect = known is not None
        failure: Exception | None = cause
        while attempts < self.max_attempts:
            if suspect:  # counted before it runs: an attempt that kills the process still counts
                attempts = self.inbox.record_attempt(self.group, event_id, source, error)
            try:
                self._apply([event], _Blame(), forget=suspect)
                return
            except Exception as exc:
                failure, error = exc, _describe(exc)
                if not suspect:
                    attempts = self.inbox.record_attempt(self.group, event_id, source, error)
                    suspect = True
                _log.warning("consumer.handler_failed", event_id=event_id, attempt=attempts, error=str(exc))
                time.sleep(min(0.05 * 2**attempts, 1.0))  # brief backoff before the in-place retry
        if failure is None:  # the attempts were used up by an earlier run of this consumer
            failure = _Remembered(error or "failed in an earlier run; no error was recorded")
        self._dead_letter(msg, failure, attempts)
        self.inbox.record_dead_lettered(self.group, event_id, source, _describe(failure))

    def _store_offsets(self, consumer: Consumer, batch: list[Message]) -> None:
        last: dict[tuple[str | None, int | None], Message] = {}
        for msg in batch:  # in offset order within a partition
            last[(msg.topic(), msg.partition())] = msg
        for msg in last.values():
            try:
                consumer.store_offsets(message=msg)
            except KafkaException as exc:
                # revoked while its batch was applied: the new owner redelivers, the inbox skips
                _log.warning("consumer.store_offsets_failed", error=str(exc))

    def _dead_letter(self, msg: Message, error: Exception, attempts: int) -> None:
        if self._dlq is None:
            self._dlq = Producer(self.dlq_config)
        delivered: list[KafkaError | None] = []
        headers = [
            *(msg.headers() or []),
            ("dlq_error", _describe(error).encode()[:4000]),
            ("dlq_traceback", "".join(traceback.format_exception(error)).encode()[-8000:]),
            ("dlq_attempts", str(attempts).encode()),
            ("dlq_source", f"{msg.topic()}/{msg.partition()}/{msg.offset()}".encode()),
            ("dlq_consumer", self.group.encode()),
        ]
        self._dlq.produce(
            self.dead_letter_topic,
            msg.value(),
            msg.key(),
            headers=headers,
            on_delivery=lambda err, _m: delivered.append(err),
        )
        self._dlq.flush(30)
        if not delivered or delivered[0] is not None:
            # the offset must not move past an event that is neither applied nor dead-lettered
            raise ConsumerError(f"could not dead-letter {msg.topic()}/{msg.offset()}: {delivered}")
        self._count("dead_lettered")

    def _count(self, what: str, n: int = 1) -> None:
        if self.metrics is not None and n:
            getattr(self.metrics, what).labels(group=self.group).inc(n)

    def _report_lag(self, consumer: Consumer) -> None:
        if self.metrics is None or time.monotonic() - self._last_lag < self.lag_interval:
            return
        self._last_lag = time.monotonic()
        try:
            assigned = consumer.assignment()
            for tp in consumer.position(assigned):
                # the high watermark every fetch response carries: no broker round trip per
                # partition inside the poll loop; a partition not fetched yet asks the broker
                _, high = consumer.get_watermark_offsets(tp, cached=True)
                if high < 0:
                    _, high = consumer.get_watermark_offsets(tp, timeout=1)
                lag = high - tp.offset if tp.offset >= 0 else high
                self.metrics.lag.labels(group=self.group, topic=tp.topic, partition=str(tp.partition)).set(
                    lag
                )
        except KafkaException as exc:
            _log.debug("consumer.lag_unavailable", error=str(exc))
