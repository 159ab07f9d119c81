"""Inline email notifications to end users, recorded in ``hooks_notification``.

Legacy: sent synchronously after commit with Django's ``send_mail`` (a file-based
backend in dev). A failure is recorded, never raised into the request.

Strangled behind the capability ``notifications.email`` (``strangler.capability_flags``):
``email_on_commit`` decides the mode inside the writer's transaction, once per correlation
id, and records it in ``hooks_notificationdecision`` (see ``decide``). ``monolith`` and
``shadow``: this path sends; ``extracted``: it does not, the notification service does.
"""

from __future__ import annotations

import structlog
from django.conf import settings
from django.core.mail import send_mail
from django.db import DatabaseError, connection, transaction

from monolith.accounts.models import User
from monolith.hooks.models import (
    CHANNEL_EMAIL,
    NOTIF_FAILED,
    NOTIF_SENT,
    NOTIF_SKIPPED,
    Notification,
    NotificationDecision,
)

_log = structlog.get_logger("monolith.notify")
CAPABILITY = "notifications.email"


def email_user(user_id: int, template: str, subject: str, body: str,
               decision_id: int | None = None) -> int | None:
    """Email the user and record the attempt; returns the notification status. Never raises."""
    try:
        user = User.objects.get(pk=user_id)
        status = NOTIF_SKIPPED
        if user.email:
            try:
                send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email])
                status = NOTIF_SENT
            except Exception:
                _log.exception("notify.email_failed", user_id=user_id, template=template)
                status = NOTIF_FAILED
        sent = Notification.objects.create(
            user=user, channel=CHANNEL_EMAIL, template=template, body=body, status=status
        )
        if decision_id is not None:  # links the shadow comparison to what was really sent
            NotificationDecision.objects.filter(pk=decision_id).update(notification=sent)
        return status
    except Exception:  # the request already succeeded
        _log.exception("notify.failed", user_id=user_id, template=template)
        return None


def decide(user_id: int, template: str, subject: str, body: str) -> tuple[str, int | None]:
    """The mode for this notification and its decision row's id; call inside the write's transaction.

    One mode per correlation id (the id the ACL stamps on the write's events), taken from
    the flag the first time that id notifies and kept for it: the notification service
    reads the same row for the same events. With no transaction or no correlation id the
    events cannot name a decision, so the legacy path sends (and the service, finding no
    decision, does not). An unreadable flag also means the legacy path. A database error
    here is contained in a savepoint and never fails the write: without a row of its own the
    notification keeps the mode already recorded for its correlation id, or the legacy path.
    """
    if not connection.in_atomic_block:
        return "monolith", None
    earlier: str | None = None
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT nullif(current_setting('strangler.correlation_id', true), '')")
            row = cursor.fetchone()
            correlation_id = row[0] if row else None
            if not correlation_id:
                return "monolith", None
            # two transactions of one correlation id decide one after the other, not both at once
            cursor.execute("SELECT pg_advisory_xact_lock(7201, hashtext(%s))", [correlation_id])
            earlier = (NotificationDecision.objects.filter(correlation_id=correlation_id)
                       .order_by("id").values_list("mode", flat=True).first())
            mode = earlier or _flag_mode(user_id)
            decision = NotificationDecision.objects.create(
                correlation_id=correlation_id, mode=mode, user_id=user_id, template=template,
                subject=subject[:255], body=body)
    except DatabaseError:
        _log.exception("notify.decision_not_recorded", user_id=user_id, template=template)
        return earlier or "monolith", None
    return mode, decision.pk


def _flag_mode(user_id: int) -> str:
    from strangler.capability_flags import FlagUnavailable, mode_of

    try:
        return mode_of(CAPABILITY, str(user_id))
    except FlagUnavailable:
        _log.warning("notify.flag_unavailable", capability=CAPABILITY)
        return "monolith"


def email_on_commit(user_id: int, template: str, subject: str, body: str) -> None:
    mode, decision_id = decide(user_id, template, subject, body)
    if mode == "extracted":
        return  # the notification service sends it, from the write's events
    transaction.on_commit(lambda: email_user(user_id, template, subject, body, decision_id),
                          robust=True)
