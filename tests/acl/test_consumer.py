"""Consumer library on the real broker and database: inbox dedup, DLQ, offsets after processing,
attempt counts that survive a restart."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from prometheus_client import CollectorRegistry

from acl.adapters.fakes import FakeInbox
from acl.adapters.kafka_publisher import KafkaPublisher
from acl.adapters.pg_inbox import PgInboxStore, install_inbox
from acl.consumer import BatchStats, EventConsumer
from acl.domain import DomainEvent
from acl.envelope import to_message
from acl.metrics import ConsumerMetrics
from acl.ports import Failure, InboxStore
from tests.acl.helpers import create_topics, first, read_topic, wait_until


@pytest.fixture
def consumer_db(fresh_database: Callable[[str], str]) -> str:
    url = fresh_database("acl_consumer")
    install_inbox(url)
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE effects (event_id text, amount text)")
    return url


def effect(event: Any, tx: psycopg.Connection[Any]) -> None:
    tx.execute("INSERT INTO effects VALUES (%s, %s)", (event.get_id(), event.get_data()["amount"]))


def messages(n: int, topic_event: str = "paystream.wallet.credited.v1") -> list[Any]:
    from datetime import UTC, datetime

    out = []
    for i in range(n):
        ev = DomainEvent(topic_event, "wallet", "1", datetime.now(UTC), {"amount": str(i)})
        out.append(to_message(ev, str(uuid.uuid4()), "c", None))
    return out


def run_until(consumer: EventConsumer, condition: Callable[[], bool], what: str) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,))
    thread.start()
    try:
        wait_until(condition, 60, what)
    finally:
        stop.set()
        thread.join(20)


def count(url: str, sql: str) -> int:
    with psycopg.connect(url) as conn:
        return int(first(conn.execute(sql)))


def strict_consumer(bootstrap: str, group: str, topic: str, database: str,
                    attempts: list[str]) -> EventConsumer:
    """A consumer whose handler refuses an event without an amount (recording every attempt)
    and applies the others; three attempts, then the dead-letter topic."""

    def strict(event: Any, tx: psycopg.Connection[Any]) -> None:
        attempts.append(event.get_id())
        if event.get_data()["amount"] is None:
            raise ValueError("amount is required")
        effect(event, tx)

    return EventConsumer(bootstrap, group, [topic], strict, PgInboxStore(database), f"{topic}.dlq",
                         max_attempts=3)


def test_a_redelivered_event_is_applied_exactly_once(kafka_bootstrap: str, consumer_db: str) -> None:
    topic = f"consumer-test-{uuid.uuid4().hex[:6]}"
    create_topics(kafka_bootstrap, [topic, f"{topic}.dlq"])
    batch = [m.__class__(topic, m.key, m.value, m.headers, m.event_id) for m in messages(5)]
    publisher = KafkaPublisher(kafka_bootstrap)
    assert all(publisher.publish(batch + batch[:3]))  # three redeliveries, same event ids
    registry = CollectorRegistry()
    metrics = ConsumerMetrics.create(registry)
    group = f"g-{uuid.uuid4().hex[:6]}"
    consumer = EventConsumer(
        kafka_bootstrap, group, [topic], effect, PgInboxStore(consumer_db), f"{topic}.dlq", metrics=metrics
    )
    consumer.lag_interval = 0.0
    run_until(
        consumer,
        lambda: (
            (registry.get_sample_value("strangler_consumer_duplicates_total", {"group": group}) or 0) == 3
        ),
        "duplicates absorbed",
    )
    assert count(consumer_db, "SELECT count(*) FROM effects") == 5
    assert PgInboxStore(consumer_db).applied_count(group) == 5
    # offsets were committed after processing: a restarted consumer in the same group starts after them.
    # All records share key "1", hence one partition: a re-read of old records would
    # come before the new one.
    [fresh] = [m.__class__(topic, m.key, m.value, m.headers, m.event_id) for m in messages(1)]
    assert publisher.publish([fresh]) == [True]
    again = EventConsumer(
        kafka_bootstrap, group, [topic], effect, PgInboxStore(consumer_db), f"{topic}.dlq", metrics=metrics
    )
    run_until(
        again, lambda: count(consumer_db, "SELECT count(*) FROM effects") == 6, "the new record applied"
    )
    assert registry.get_sample_value("strangler_consumer_duplicates_total", {"group": group}) == 3
    lag = registry.get_sample_value(
        "strangler_consumer_lag", {"group": group, "topic": topic, "partition": "0"}
    )
    assert lag is not None
    publisher.close()


def test_an_event_failing_every_attempt_goes_to_the_dead_letter_topic_with_the_error(
    kafka_bootstrap: str, consumer_db: str
) -> None:
    topic = f"consumer-test-{uuid.uuid4().hex[:6]}"
    create_topics(kafka_bootstrap, [topic, f"{topic}.dlq"], partitions=1)
    good, poison = messages(2)
    poison = poison.__class__(topic, poison.key, b'{"amount": null}', poison.headers, poison.event_id)
    good = good.__class__(topic, good.key, good.value, good.headers, good.event_id)
    publisher = KafkaPublisher(kafka_bootstrap)
    assert all(publisher.publish([poison, good]))
    attempts: list[str] = []
    consumer = strict_consumer(kafka_bootstrap, f"g-{uuid.uuid4().hex[:6]}", topic, consumer_db, attempts)
    run_until(
        consumer, lambda: count(consumer_db, "SELECT count(*) FROM effects") == 1, "the good event applied"
    )
    assert attempts.count(poison.event_id) == 3
    [dead] = read_topic(kafka_bootstrap, f"{topic}.dlq", 1)
    assert dead["id"] == poison.event_id
    assert dead["headers"]["dlq_error"] == b"ValueError: amount is required"
    assert dead["headers"]["dlq_attempts"] == b"3"
    assert count(consumer_db, "SELECT count(*) FROM strangler_inbox.inbox") == 1, (
        "failed attempts left no inbox row"
    )
    publisher.close()


def test_a_backlog_is_applied_in_batched_transactions_each_event_once(
    kafka_bootstrap: str, consumer_db: str
) -> None:
    topic = f"consumer-test-{uuid.uuid4().hex[:6]}"
    create_topics(kafka_bootstrap, [topic, f"{topic}.dlq"], partitions=1)
    backlog = [m.__class__(topic, m.key, m.value, m.headers, m.event_id) for m in messages(300)]
    publisher = KafkaPublisher(kafka_bootstrap)
    assert all(publisher.publish(backlog))
    group = f"g-{uuid.uuid4().hex[:6]}"
    consumer = EventConsumer(
        kafka_bootstrap, group, [topic], effect, PgInboxStore(consumer_db), f"{topic}.dlq"
    )
    run_until(consumer, lambda: count(consumer_db, "SELECT count(*) FROM effects") >= 300, "the backlog")
    assert count(consumer_db, "SELECT count(DISTINCT event_id) FROM effects") == 300
    assert count(consumer_db, "SELECT count(*) FROM effects") == 300
    # rows written by one transaction share its xmin: far fewer transactions than events
    transactions = count(consumer_db, "SELECT count(DISTINCT xmin::text) FROM strangler_inbox.inbox")
    assert transactions < 300 // 10, f"{transactions} transactions for 300 events"
    publisher.close()


def test_a_poison_event_in_a_batch_is_dead_lettered_and_the_rest_applied_once(
    kafka_bootstrap: str, consumer_db: str
) -> None:
    topic = f"consumer-test-{uuid.uuid4().hex[:6]}"
    create_topics(kafka_bootstrap, [topic, f"{topic}.dlq"], partitions=1)
    backlog = [m.__class__(topic, m.key, m.value, m.headers, m.event_id) for m in messages(60)]
    bad = backlog[25]
    backlog[25] = bad.__class__(topic, bad.key, b'{"amount": null}', bad.headers, bad.event_id)
    publisher = KafkaPublisher(kafka_bootstrap)
    assert all(publisher.publish(backlog))
    attempts: list[str] = []
    consumer = strict_consumer(kafka_bootstrap, f"g-{uuid.uuid4().hex[:6]}", topic, consumer_db, attempts)
    run_until(consumer, lambda: count(consumer_db, "SELECT count(*) FROM effects") >= 59, "the good events")
    [dead] = read_topic(kafka_bootstrap, f"{topic}.dlq", 1)
    assert dead["id"] == bad.event_id
    assert attempts.count(bad.event_id) == 3, "the failed batch counts as the poison event's first attempt"
    assert count(consumer_db, "SELECT count(*) FROM effects") == 59
    assert count(consumer_db, "SELECT count(DISTINCT event_id) FROM effects") == 59
    assert count(consumer_db, "SELECT count(*) FROM strangler_inbox.inbox") == 59
    publisher.close()


def test_on_batch_hears_every_polled_batch_with_its_stages_and_a_replayed_one_is_marked(
    kafka_bootstrap: str, consumer_db: str
) -> None:
    topic = f"consumer-test-{uuid.uuid4().hex[:6]}"
    create_topics(kafka_bootstrap, [topic, f"{topic}.dlq"], partitions=1)
    backlog = [m.__class__(topic, m.key, m.value, m.headers, m.event_id) for m in messages(40)]
    bad = backlog[10]
    backlog[10] = bad.__class__(topic, bad.key, b'{"amount": null}', bad.headers, bad.event_id)
    publisher = KafkaPublisher(kafka_bootstrap)
    assert all(publisher.publish(backlog))
    heard: list[BatchStats] = []
    plain = strict_consumer(kafka_bootstrap, f"g-{uuid.uuid4().hex[:6]}", topic, consumer_db, [])
    consumer = EventConsumer(kafka_bootstrap, plain.group, [topic], plain.handler, plain.inbox,
                             f"{topic}.dlq", max_attempts=3, on_batch=heard.append)
    run_until(consumer, lambda: sum(s.size for s in heard) >= 40, "every batch heard")
    assert sum(s.size for s in heard) == 40, "each polled message is in exactly one batch"
    assert count(consumer_db, "SELECT count(*) FROM effects") == 39
    assert [s.replayed for s in heard].count(True) == 1, "only the poison event's batch was replayed"
    replayed = next(s for s in heard if s.replayed)
    # the failed transaction is not counted; then one per event, the poison one's three attempts failing
    assert replayed.transactions == replayed.size - 1
    assert all(s.waited is not None and s.waited >= 0 for s in heard), "relay-made messages carry a timestamp"
    assert all(min(s.inbox, s.handler, s.commit) >= 0 and s.transactions >= 1 for s in heard)
    publisher.close()


class Crash(BaseException):
    """The process dying in the middle of an attempt (OOM, kill -9): no ``except Exception`` sees it."""


@pytest.mark.parametrize("dies_on", [2, 3])
def test_a_restarted_consumer_carries_on_counting_and_does_not_retry_a_poison_event_forever(
    kafka_bootstrap: str, consumer_db: str, dies_on: int
) -> None:
    topic = f"consumer-test-{uuid.uuid4().hex[:6]}"
    create_topics(kafka_bootstrap, [topic, f"{topic}.dlq"], partitions=1)
    poison, good = (m.__class__(topic, m.key, m.value, m.headers, m.event_id) for m in messages(2))
    poison = poison.__class__(topic, poison.key, b'{"amount": null}', poison.headers, poison.event_id)
    publisher = KafkaPublisher(kafka_bootstrap)
    assert all(publisher.publish([poison, good]))
    group = f"g-{uuid.uuid4().hex[:6]}"
    calls: list[int] = []

    def dying(event: Any, tx: psycopg.Connection[Any]) -> None:
        if event.get_data()["amount"] is None:
            calls.append(1)
            if len(calls) == dies_on:
                raise Crash()
            raise ValueError("amount is required")
        effect(event, tx)

    first_run = EventConsumer(kafka_bootstrap, group, [topic], dying, PgInboxStore(consumer_db),
                              f"{topic}.dlq", max_attempts=3)
    with pytest.raises(Crash):
        while True:
            first_run.poll_once(0.5)
    first_run.close()
    assert len(calls) == dies_on, "the first run died in the attempt it was told to"

    second_calls: list[str] = []
    second_run = strict_consumer(kafka_bootstrap, group, topic, consumer_db, second_calls)
    run_until(second_run, lambda: count(consumer_db, "SELECT count(*) FROM effects") == 1, "the good event")
    assert second_calls.count(poison.event_id) == 3 - dies_on, "attempts counted across the restart"
    [dead] = read_topic(kafka_bootstrap, f"{topic}.dlq", 1)
    assert dead["id"] == poison.event_id and dead["headers"]["dlq_attempts"] == b"3"
    assert dead["headers"]["dlq_error"] == b"ValueError: amount is required"
    assert count(consumer_db, "SELECT count(*) FROM strangler_inbox.failure WHERE dead_lettered") == 1
    assert count(consumer_db, "SELECT count(*) FROM strangler_inbox.inbox") == 1
    publisher.close()


@pytest.mark.parametrize("store", ["pg", "fake"])
def test_failures_are_counted_per_event_reset_on_replay_and_forgotten_once_applied(
    consumer_db: str, store: str
) -> None:
    inbox: InboxStore = PgInboxStore(consumer_db) if store == "pg" else FakeInbox()
    assert inbox.record_attempt("g", "e1", "t/0/5", None) == 1
    assert inbox.record_attempt("g", "e1", "t/0/5", "ValueError: x") == 2
    assert inbox.record_attempt("other-group", "e1", "t/0/5", None) == 1, "counted per consumer group"
    inbox.record_dead_lettered("g", "e1", "t/0/5", "ValueError: y")
    with inbox.transaction() as tx:
        assert inbox.failures(tx, "g", ["e1", "e2"]) == {"e1": Failure(2, "ValueError: y", "t/0/5", True)}
    with inbox.transaction() as tx:  # the batch path: one call records, or reports known failures
        assert inbox.record_unless_failed(tx, "g", ["e1", "e3"]) == (
            set(), {"e1": Failure(2, "ValueError: y", "t/0/5", True)}
        )
    with inbox.transaction() as tx:
        assert inbox.record_unless_failed(tx, "g", ["e3", "e4", "e3"]) == ({"e3", "e4"}, {})
        assert inbox.record_unless_failed(tx, "g", ["e3"]) == (set(), {}), "e3 is a duplicate now"
    assert inbox.record_attempt("g", "e1", "t/0/9", None) == 1, "a replay at a new offset counts afresh"
    with inbox.transaction() as tx:
        inbox.forget_failures(tx, "g", ["e1"])
    with inbox.transaction() as tx:
        assert inbox.failures(tx, "g", ["e1"]) == {}
        assert set(inbox.failures(tx, "other-group", ["e1"])) == {"e1"}


def test_an_inbox_installed_before_failures_were_persisted_gets_the_table_on_first_use(
    fresh_database: Callable[[str], str]
) -> None:
    url = fresh_database("acl_old_inbox")
    with psycopg.connect(url) as conn:  # what install_inbox created before this change
        conn.execute("CREATE SCHEMA strangler_inbox; CREATE TABLE strangler_inbox.inbox (consumer text,"
                     " event_id text, applied_at timestamptz, PRIMARY KEY (consumer, event_id))")
    assert PgInboxStore(url).record_attempt("g", "e1", "t/0/1", None) == 1
