"""Shadow mode's evidence: what the monolith e-mailed against what this service would have.

Per correlation id (the id on the monolith's decision and on the events), per customer and
kind, the monolith's side is its ``hooks_notificationdecision`` rows decided ``shadow``
joined to the ``hooks_notification`` row of the send (status, body) and the user's
address; the service's side is its e-mail records in mode ``shadow``. ``diff`` is pure;
``compare`` loads both sides and calls it. ``manage.py compare_notifications`` prints it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import psycopg

Key = tuple[str, int, str]  # correlation id, customer (user) id, kind (template)


@dataclass(frozen=True)
class Sent:
    """One e-mail as one side sent (or would have sent) it; recipient '' = nobody to send to."""

    recipient: str
    subject: str
    body: str
    ref: str = ""  # the legacy notification id / the service's event id, for people to look up


@dataclass
class Comparison:
    key: Key
    legacy: list[Sent] = field(default_factory=list)
    service: list[Sent] = field(default_factory=list)

    @property
    def differences(self) -> list[str]:
        found = []
        if len(self.legacy) != len(self.service):
            found.append(f"count: monolith {len(self.legacy)}, service {len(self.service)}")
        for old, new in zip(sorted(self.legacy, key=_order), sorted(self.service, key=_order), strict=False):
            for name in ("recipient", "subject", "body"):
                if getattr(old, name) != getattr(new, name):
                    found.append(f"{name}: monolith {getattr(old, name)!r}, service {getattr(new, name)!r}")
        return found

    @property
    def matches(self) -> bool:
        return not self.differences


def _order(sent: Sent) -> tuple[str, str, str]:
    return sent.recipient, sent.subject, sent.body


def diff(legacy: Iterable[tuple[Key, Sent]], service: Iterable[tuple[Key, Sent]]) -> list[Comparison]:
    found: dict[Key, Comparison] = {}
    for key, sent in legacy:
        found.setdefault(key, Comparison(key)).legacy.append(sent)
    for key, sent in service:
        found.setdefault(key, Comparison(key)).service.append(sent)
    return [found[key] for key in sorted(found)]


_LEGACY = """
SELECT d.correlation_id, d.user_id, d.template, d.subject, coalesce(n.body, d.body),
       CASE WHEN n.id IS NULL THEN NULL WHEN n.status = 3 THEN '' ELSE coalesce(u.email, '') END, n.id
  FROM hooks_notificationdecision d
  LEFT JOIN hooks_notification n ON n.id = d.notification_id
  LEFT JOIN accounts_user u ON u.id = d.user_id
 WHERE d.mode = 'shadow' AND d.decided_at >= %s AND d.decided_at < %s
"""
_SERVICE = """
SELECT correlation_id, customer_id, kind, recipient, subject, body, event_id
  FROM notifications_notification
 WHERE mode = 'shadow' AND channel = 'email' AND correlation_id = ANY(%s)
"""


def compare(legacy_url: str, service_url: str, since: datetime, until: datetime) -> list[Comparison]:
    """Every shadow decision the monolith took in [since, until) against the service's records.

    A decision whose send the monolith has not recorded yet (it sends after commit) shows as
    recipient ``<not sent yet>``: run the comparison again a moment later.
    """
    with psycopg.connect(legacy_url) as conn:
        legacy_rows = conn.execute(_LEGACY, (since, until)).fetchall()
    legacy = [((cid, int(user), template),
               Sent("<not sent yet>" if to is None else to, subject, body, f"hooks_notification {ref}"))
              for cid, user, template, subject, body, to, ref in legacy_rows]
    ids = sorted({key[0] for key, _ in legacy})
    with psycopg.connect(service_url) as conn:
        service_rows = conn.execute(_SERVICE, (ids,)).fetchall()
    service = [((cid, int(customer), kind), Sent(to, subject, body, f"event {event_id}"))
               for cid, customer, kind, to, subject, body, event_id in service_rows]
    return diff(legacy, service)
