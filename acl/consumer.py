"""The consumer library every extracted service uses: at-least-once delivery, exactly-once effects.

- Offsets are stored only after an event is processed (``enable.auto.offset.store=false``);
  the stored offsets are committed periodically, on rebalance and on close.
- The handler runs inside an inbox transaction on the service's own database:
  the inbox row and the effect commit together, so a redelivered event is skipped.
- A handler that fails ``max_attempts`` times in a row sends the event to the
  dead-letter topic with the error in its headers; then the consumer moves on.
- ``stop`` is honoured between events; ``close`` commits what was stored.
- Lag (high watermark - position) is a Prometheus gauge per partition.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any

import structlog
from cloudevents.core.base import BaseCloudEvent
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from acl.envelope import parse_message
from acl.errors import ConsumerError
from acl.metrics import ConsumerMetrics
from acl.ports import InboxStore

Handler = Callable[[BaseCloudEvent, Any], None]
_log = structlog.get_logger("acl.consumer")


class EventConsumer:
    lag_interval = 5.0  # seconds between watermark queries

    def __init__(
        self,
        bootstrap_servers: str,
        group: str,
        topics: list[str],
        handler: Handler,
        inbox: InboxStore,
        dead_letter_topic: str,
        max_attempts: int = 3,
        metrics: ConsumerMetrics | None = None,
        overrides: Mapping[str, object] | None = None,
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
        self._consumer: Consumer | None = None
        self._dlq: Producer | None = None
        self._last_lag = 0.0

    # ---- lifecycle ---------------------------------------------------------------------
    def _client(self) -> Consumer:
        if self._consumer is None:
            self._consumer = Consumer(self.config)
            self._consumer.subscribe(self.topics, on_revoke=self._on_revoke)
        return self._consumer

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # we process one message at a time inside poll(), so nothing is in flight here:
        # commit what was stored so the next owner starts right after it
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

    # ---- one event -----------------------------------------------------------------------
    def poll_once(self, timeout: float) -> bool:
        consumer = self._client()
        msg = consumer.poll(timeout)
        self._report_lag(consumer)
        if msg is None:
            return False
        error = msg.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                return False
            raise ConsumerError(f"Kafka consumer error: {error}")
        self._process(msg)
        consumer.store_offsets(message=msg)
        return True

    def _process(self, msg: Message) -> None:
        try:
            event = parse_message(msg.key(), msg.value(), msg.headers())
        except Exception as exc:  # unparseable: retrying cannot help
            self._dead_letter(msg, exc, attempts=1)
            return
        error: Exception | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                with self.inbox.transaction() as tx:
                    if not self.inbox.record(tx, self.group, event.get_id()):
                        self._count("duplicates")
                        return
                    self.handler(event, tx)
                self._count("applied")
                return
            except Exception as exc:
                error = exc
                _log.warning(
                    "consumer.handler_failed", event_id=event.get_id(), attempt=attempt, error=str(exc)
                )
                time.sleep(min(0.05 * 2**attempt, 1.0))  # brief backoff before the in-place retry
        assert error is not None
        self._dead_letter(msg, error, self.max_attempts)

    def _dead_letter(self, msg: Message, error: Exception, attempts: int) -> None:
        if self._dlq is None:
            self._dlq = Producer(self.dlq_config)
        delivered: list[KafkaError | None] = []
        headers = [
            *(msg.headers() or []),
            ("dlq_error", f"{type(error).__name__}: {error}".encode()[:4000]),
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

    def _count(self, what: str) -> None:
        if self.metrics is not None:
            getattr(self.metrics, what).labels(group=self.group).inc()

    def _report_lag(self, consumer: Consumer) -> None:
        if self.metrics is None or time.monotonic() - self._last_lag < self.lag_interval:
            return
        self._last_lag = time.monotonic()
        try:
            assigned = consumer.assignment()
            for tp in consumer.position(assigned):
                _, high = consumer.get_watermark_offsets(tp, timeout=1)
                lag = high - tp.offset if tp.offset >= 0 else high
                self.metrics.lag.labels(group=self.group, topic=tp.topic, partition=str(tp.partition)).set(
                    lag
                )
        except KafkaException as exc:
            _log.debug("consumer.lag_unavailable", error=str(exc))
