"""Sends recorded notifications after the recording transaction committed, never twice.

A record's ``status`` is the guard. The dispatcher claims due records in one statement
(``pending``/``retrying`` whose time has come -> ``sending``, ``attempts + 1``, a lease;
``FOR UPDATE SKIP LOCKED``, so two dispatchers never claim the same record), sends each
through its channel, then records the outcome:

* delivered -> ``sent``;
* ``DeliveryFailed(retry=True)`` (refused, timed out before the message went out, a 4xx)
  -> ``retrying`` after a backoff with jitter, or ``failed`` after ``max_attempts``;
* a permanent refusal (5xx) -> ``failed``;
* ``uncertain`` (the message went out, its acceptance never came back) -> ``uncertain``.

A process that dies between the send and recording its outcome leaves ``sending`` with a
lease that runs out; such a record becomes ``uncertain`` and is NOT sent again. So at the
channel boundary the service is at most once in the two ambiguous windows and retries
everything that certainly did not go out; ``manage.py resend_notifications`` sends an
``uncertain`` or ``failed`` one again when a person decides to.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import psycopg
import structlog
from prometheus_client import Counter

from extracted.notifications.channels import Channel, Message
from extracted.notifications.domain import RetryPolicy
from extracted.notifications.errors import DeliveryFailed

_log = structlog.get_logger("notifications.dispatch")
SENDS = Counter("notifications_send_attempts", "Send attempts by channel and outcome", ["channel", "outcome"])

_CLAIM = """
UPDATE notifications_notification n
   SET status = 'sending', attempts = n.attempts + 1, lease_until = now() + make_interval(secs => %s)
 WHERE n.id IN (SELECT id FROM notifications_notification
                 WHERE status IN ('pending', 'retrying') AND next_attempt_at <= now()
                 ORDER BY next_attempt_at, id LIMIT %s FOR UPDATE SKIP LOCKED)
RETURNING n.id, n.event_id, n.channel, n.recipient, n.subject, n.body, n.attempts
"""
_EXPIRE = """
UPDATE notifications_notification SET status = 'uncertain',
       last_error = 'the sender stopped during the send; it may have gone out, so it is not sent again'
 WHERE status = 'sending' AND lease_until < now()
"""


_RENEW = """
UPDATE notifications_notification SET lease_until = now() + make_interval(secs => %s)
 WHERE id = ANY(%s) AND status = 'sending'
"""


class Dispatcher:
    batch = 20
    idle_wait = 0.5  # seconds between looks for due records when nothing wakes it

    def __init__(self, database_url: str, channels: Mapping[str, Channel], policy: RetryPolicy,
                 lease: float = 120.0) -> None:
        self.database_url, self.channels, self.policy, self.lease = database_url, channels, policy, lease
        self._wake = threading.Event()
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None

    def wake(self) -> None:
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    sent = self.run_due()
                except psycopg.Error as exc:  # the database is away: keep the records, look again soon
                    _log.warning("notifications.dispatch_db_error", error=str(exc).strip())
                    self.close()
                    sent = 0
                if not sent:
                    self._wake.wait(self.idle_wait)
                    self._wake.clear()
        finally:
            self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def run_due(self) -> int:
        """Claim what is due, send it, record the outcomes; returns how many were attempted."""
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.database_url, autocommit=True)
        conn = self._conn
        conn.execute(_EXPIRE)
        claimed = conn.execute(_CLAIM, (self.lease, self.batch)).fetchall()
        waiting = [row[0] for row in claimed]
        for row_id, event_id, channel, recipient, subject, body, attempts in claimed:
            # the lease covers one send, not the batch: renewed for what is still waiting, so a
            # slow server early in the batch cannot make the later records expire unsent
            # (another dispatcher would mark them uncertain and nobody would send them)
            conn.execute(_RENEW, (self.lease, waiting))
            waiting.remove(row_id)
            message = Message(f"{event_id}.{channel}.{row_id}", channel, recipient, subject, body)
            failure = self._send(message)
            self._record(conn, row_id, attempts, failure)
            outcome = "sent" if failure is None else "uncertain" if failure.uncertain else "failed"
            SENDS.labels(channel=channel, outcome=outcome).inc()
        return len(claimed)

    def _send(self, message: Message) -> DeliveryFailed | None:
        channel = self.channels.get(message.channel)
        if channel is None:
            return DeliveryFailed(f"no adapter for channel {message.channel!r}", retry=False)
        try:
            channel.send(message)
        except DeliveryFailed as exc:
            return exc
        except Exception as exc:  # an adapter bug must not kill the dispatcher; the record says what
            return DeliveryFailed(f"{type(exc).__name__}: {exc}", retry=False, uncertain=True)
        return None

    def _record(self, conn: psycopg.Connection, row_id: int, attempts: int,
                failure: DeliveryFailed | None) -> None:
        if failure is None:
            conn.execute("UPDATE notifications_notification SET status = 'sent', sent_at = now(),"
                         " last_error = '' WHERE id = %s AND status = 'sending'", (row_id,))
            return
        delay = self.policy.delay(attempts) if failure.retry else None
        status = "uncertain" if failure.uncertain else "retrying" if delay is not None else "failed"
        _log.warning("notifications.send_failed", id=row_id, attempts=attempts, status=status,
                     error=failure.reason)
        conn.execute("UPDATE notifications_notification SET status = %s, last_error = %s,"
                     " next_attempt_at = now() + make_interval(secs => %s)"
                     " WHERE id = %s AND status = 'sending'",
                     (status, failure.reason[:2000], delay or 0.0, row_id))
