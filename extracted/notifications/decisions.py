"""Who sends an event's notifications during the strangling of the monolith's inline e-mails.

The capability ``notifications.email`` is read with ``strangler.capability_flags.mode_of``,
but only ONCE per correlation id, by the monolith (``monolith.hooks.notify.decide``), inside
the transaction of the write that causes the notification, and recorded there, in the
monolith's ``hooks_notificationdecision``. The row commits with the write, so it exists
exactly when the write's domain events do, and the events carry the same correlation id.
This service looks the mode up by the event's correlation id and obeys it:

* ``monolith`` (or no row, or no correlation id: the monolith could not hand the event
  over, so it sent): record nothing;
* ``shadow``: record what would be sent (``status = shadowed``), send nothing;
* ``extracted``: record and send; the monolith did not.

Reading the flag on each side would not do: the monolith reads it at commit, this service
when the event arrives, later; a flip in between would make both send or neither. With one
recorded decision a flip at any moment moves whole correlation ids from one side to the
other. ``MemoryDecisions`` is the fake with the same contract for unit tests.

Once the monolith's inline e-mail code is decommissioned nobody records decisions any more;
``STRANGLER_NOTIFICATIONS_DECISIONS=own`` (``OwnDecisions``) then makes every event this
service's. Until then the default, ``monolith``, reads the monolith's rows.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Protocol

import psycopg

from extracted.notifications.errors import NotificationsError

MODES = ("monolith", "shadow", "extracted")
_READ = "SELECT mode FROM hooks_notificationdecision WHERE correlation_id = %s ORDER BY id LIMIT 1"


class DecisionUnavailable(NotificationsError):
    def __init__(self, detail: str) -> None:
        super().__init__(f"cannot read the monolith's notification decisions ({detail}). The event "
                         "is parked, nothing is sent for it yet, and it is routed again shortly. Check "
                         "STRANGLER_MONOLITH_DATABASE_URL and that the monolith's migrations ran.")


class Decisions(Protocol):
    def mode_for(self, correlation_id: str | None) -> str: ...

    def close(self) -> None: ...


class MemoryDecisions:
    def __init__(self, modes: Mapping[str, str] | None = None) -> None:
        self.modes = dict(modes or {})

    def mode_for(self, correlation_id: str | None) -> str:
        return self.modes.get(correlation_id or "", "monolith")

    def close(self) -> None:
        return None


class OwnDecisions:
    """After the monolith's inline path is gone: every event is this service's to send."""

    def mode_for(self, correlation_id: str | None) -> str:
        return "extracted"

    def close(self) -> None:
        return None


class LegacyDecisions:
    """Reads ``hooks_notificationdecision`` in the monolith's database over one kept connection."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None

    def mode_for(self, correlation_id: str | None) -> str:
        if not correlation_id:
            return "monolith"
        with self._lock:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = psycopg.connect(self.database_url, autocommit=True, connect_timeout=5)
                row = self._conn.execute(_READ, (correlation_id,)).fetchone()
            except psycopg.Error as exc:
                self._drop()
                raise DecisionUnavailable(str(exc).strip()) from exc
        mode = str(row[0]) if row else "monolith"
        return mode if mode in MODES else "monolith"

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
