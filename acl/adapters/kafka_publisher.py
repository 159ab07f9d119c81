"""Kafka publisher on confluent-kafka: idempotent, acks=all, Java-compatible partitioning.

``publish`` returns only when every message has a delivery report (or the
producer gave up on it after ``message.timeout.ms``): the relay marks a change
published only after its report, never on ``produce()`` returning.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from acl.envelope import OutgoingMessage
from acl.errors import PublishError
from acl.ports import Publisher

DEFAULTS: Mapping[str, object] = {
    "enable.idempotence": True,
    "acks": "all",
    # murmur2 on the key like the Java client, so Java and Python producers agree on partitions
    "partitioner": "murmur2_random",
    "linger.ms": 2,
    "message.timeout.ms": 120_000,
    "queue.buffering.max.messages": 1_000_000,
}


def headers(message: OutgoingMessage) -> list[tuple[str, str | bytes | None]]:
    return list(message.headers)


class KafkaPublisher(Publisher):
    def __init__(self, bootstrap_servers: str, overrides: Mapping[str, object] | None = None) -> None:
        self.config = {**DEFAULTS, "bootstrap.servers": bootstrap_servers, **(overrides or {})}
        self._producer: Producer | None = None

    def _client(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(self.config)
        return self._producer

    def publish(self, messages: Sequence[OutgoingMessage]) -> list[bool]:
        producer = self._client()
        results: list[bool | None] = [None] * len(messages)
        errors: list[str] = []

        def report(index: int) -> Callable[[KafkaError | None, Message], None]:
            def on_delivery(err: KafkaError | None, msg: Message) -> None:
                results[index] = err is None
                if err is not None:
                    errors.append(str(err))

            return on_delivery

        try:
            for i, m in enumerate(messages):
                while True:
                    try:
                        producer.produce(m.topic, m.value, m.key, headers=headers(m), on_delivery=report(i))
                        break
                    except BufferError:
                        producer.poll(0.05)  # local queue full: let reports drain, then retry
            deadline = time.monotonic() + float(str(self.config["message.timeout.ms"])) / 1000 + 5
            while any(r is None for r in results) and time.monotonic() < deadline:
                producer.flush(0.5)
        except KafkaException as exc:
            raise PublishError(
                f"Kafka rejected the batch: {exc}. Nothing was marked published; the relay will retry it."
            ) from exc
        return [bool(r) for r in results]

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(10)
            self._producer = None
