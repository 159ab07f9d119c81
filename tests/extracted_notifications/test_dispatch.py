"""The dispatcher against the real database and real SMTP counterparts: sends once, retries what
certainly did not go out (refused, hanging), never re-sends what may have (an expired lease)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from extracted.notifications.dispatch import Dispatcher
from extracted.notifications.domain import RetryPolicy
from tests.acl.helpers import wait_until
from tests.extracted_notifications.conftest import FAST_RETRY, channel_map
from tests.extracted_notifications.records import record, state
from tests.extracted_notifications.servers import PICKY, SmtpServer, refused_port, silent_server, smtp_server


def test_a_due_email_goes_out_over_smtp_once_and_a_second_run_sends_nothing(
        notifications_db: str, smtp: SmtpServer, tmp_path: Path) -> None:
    dispatcher = Dispatcher(notifications_db, channel_map(smtp.port, tmp_path / "out"), FAST_RETRY)
    row = record(notifications_db, "ev-1")
    assert dispatcher.run_due() == 1
    assert dispatcher.run_due() == 0
    wait_until(lambda: len(smtp.messages()) >= 1, 10, "the e-mail to arrive")
    [mail] = smtp.messages()
    assert (mail["To"], mail["Subject"]) == ("asha@example.com", "Subject ev-1")
    assert mail["Message-ID"] == f"<ev-1.email.{row}@notifications.paystream>"
    assert state(notifications_db, row)[:2] == ("sent", 1)


def test_a_refused_smtp_connection_is_recorded_and_retried_until_the_server_is_back(
        notifications_db: str, tmp_path: Path) -> None:
    port = refused_port()
    dispatcher = Dispatcher(notifications_db, channel_map(port, tmp_path / "out"), FAST_RETRY)
    row = record(notifications_db, "ev-2")
    assert dispatcher.run_due() == 1
    status, attempts, error = state(notifications_db, row)
    assert (status, attempts) == ("retrying", 1)
    assert f"connecting to 127.0.0.1:{port}" in error
    with smtp_server(tmp_path / "maildir", port) as server:
        wait_until(lambda: dispatcher.run_due() >= 0 and state(notifications_db, row)[0] == "sent", 20,
                   "the retry to go out once the server listens")
        wait_until(lambda: len(server.messages()) >= 1, 10, "the e-mail to arrive")
        assert len(server.messages()) == 1
    assert state(notifications_db, row)[:2] == ("sent", 2)


def test_a_hanging_smtp_server_times_out_is_retried_and_finally_marked_failed(
        notifications_db: str, tmp_path: Path) -> None:
    with silent_server() as port:
        policy = RetryPolicy(max_attempts=2, base=0.05, cap=0.05)
        dispatcher = Dispatcher(notifications_db, channel_map(port, tmp_path / "out", timeout=0.3), policy)
        row = record(notifications_db, "ev-3")
        wait_until(lambda: dispatcher.run_due() >= 0 and state(notifications_db, row)[0] == "failed", 20,
                   "both attempts to time out")
    _, attempts, error = state(notifications_db, row)
    assert attempts == 2
    assert "timed out" in error


def test_a_send_whose_outcome_was_lost_becomes_uncertain_and_is_never_sent_again(
        notifications_db: str, smtp: SmtpServer, tmp_path: Path) -> None:
    # a dispatcher died after claiming it: status sending, lease already run out
    row = record(notifications_db, "ev-4", status="sending", lease_seconds=-1)
    dispatcher = Dispatcher(notifications_db, channel_map(smtp.port, tmp_path / "out"), FAST_RETRY)
    assert dispatcher.run_due() == 0
    status, _, error = state(notifications_db, row)
    assert status == "uncertain" and "not sent again" in error
    assert smtp.messages() == []


def test_sms_and_push_go_through_the_file_adapter_behind_the_same_interface(
        notifications_db: str, tmp_path: Path) -> None:
    outbox = tmp_path / "out"
    dispatcher = Dispatcher(notifications_db, channel_map(refused_port(), outbox), FAST_RETRY)
    sms = record(notifications_db, "ev-5", channel="sms", recipient="+919800000001")
    push = record(notifications_db, "ev-5", channel="push", recipient="customer:1")
    assert dispatcher.run_due() == 2
    lines = [json.loads(line) for line in (outbox / "sms.jsonl").read_text().splitlines()]
    assert [(m["recipient"], m["subject"]) for m in lines] == [("+919800000001", "Subject ev-5")]
    assert len((outbox / "push.jsonl").read_text().splitlines()) == 1
    assert state(notifications_db, sms)[0] == state(notifications_db, push)[0] == "sent"


def test_two_dispatchers_at_once_send_each_record_exactly_once(
        notifications_db: str, smtp: SmtpServer, tmp_path: Path) -> None:
    rows = [record(notifications_db, f"ev-6-{i}") for i in range(30)]
    dispatchers = [Dispatcher(notifications_db, channel_map(smtp.port, tmp_path / "out"), FAST_RETRY)
                   for _ in range(2)]
    for d in dispatchers:
        d.batch = 3

    def drain(d: Dispatcher) -> None:
        while d.run_due():
            pass

    threads = [threading.Thread(target=drain, args=(d,)) for d in dispatchers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert {state(notifications_db, r)[:2] for r in rows} == {("sent", 1)}
    wait_until(lambda: len(smtp.messages()) >= 30, 10, "thirty e-mails")
    ids = [m["Message-ID"] for m in smtp.messages()]
    assert len(ids) == len(set(ids)) == 30


def test_smtp_refusals_and_an_unconfirmed_message_are_told_apart(
        notifications_db: str, tmp_path: Path) -> None:
    """550: failed at once; 451: retried; no reply to DATA in time: uncertain, never sent again."""
    with smtp_server(tmp_path / "maildir", handler=PICKY) as server:
        policy = RetryPolicy(max_attempts=2, base=0.05, cap=0.05)
        channels = channel_map(server.port, tmp_path / "out", timeout=1.0)
        dispatcher = Dispatcher(notifications_db, channels, policy)
        gone = record(notifications_db, "ev-7", recipient="refuse5@example.com")
        later = record(notifications_db, "ev-8", recipient="refuse4@example.com")
        slow = record(notifications_db, "ev-9", recipient="slow@example.com")
        wait_until(lambda: dispatcher.run_due() >= 0 and state(notifications_db, later)[0] == "failed", 30,
                   "the 451 to be retried until attempts run out")
        assert state(notifications_db, gone)[:2] == ("failed", 1)
        assert "550" in state(notifications_db, gone)[2]
        assert state(notifications_db, later)[:2] == ("failed", 2)
        assert "451" in state(notifications_db, later)[2]
        status, attempts, error = state(notifications_db, slow)
        assert (status, attempts) == ("uncertain", 1) and "may have been delivered" in error
        assert dispatcher.run_due() == 0  # nothing is due again: the uncertain one stays as it is
        wait_until(lambda: len(server.messages()) >= 1, 15, "the slow server to store the message")
        assert [m["To"] for m in server.messages()] == ["slow@example.com"]  # it did arrive, once


def test_a_slow_send_early_in_a_batch_does_not_let_the_later_records_expire_unsent(
        notifications_db: str) -> None:
    """Each record's lease is renewed as its turn comes: another dispatcher's expiry sweep in the
    middle of the batch must find nothing to give up on, and every record goes out once."""
    import time

    from extracted.notifications.channels import Channel, Message

    sweeper = Dispatcher(notifications_db, {}, FAST_RETRY)
    sent: list[str] = []

    class Slow(Channel):
        name = "email"

        def send(self, message: Message) -> None:
            time.sleep(0.4)
            if len(sent) == 3:  # the 4th send starts 1.2 s after the claim, past a 1 s lease
                sweeper.run_due()  # a second dispatcher's sweep (it sends nothing: no channels)
            sent.append(message.message_id)

    rows = [record(notifications_db, f"ev-slow-{n}") for n in range(4)]
    dispatcher = Dispatcher(notifications_db, {"email": Slow()}, FAST_RETRY, lease=1.0)
    dispatcher.batch = 4
    assert dispatcher.run_due() == 4
    assert [state(notifications_db, row)[0] for row in rows] == ["sent"] * 4
    assert len(sent) == 4
