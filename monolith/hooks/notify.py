"""Inline email notifications to end users, recorded in ``hooks_notification``.

Legacy: sent synchronously after commit with Django's ``send_mail`` (a file-based
backend in dev). A failure is recorded, never raised into the request.
"""

from __future__ import annotations

import structlog
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction

from monolith.accounts.models import User
from monolith.hooks.models import (
    CHANNEL_EMAIL,
    NOTIF_FAILED,
    NOTIF_SENT,
    NOTIF_SKIPPED,
    Notification,
)

_log = structlog.get_logger("monolith.notify")


def email_user(user_id: int, template: str, subject: str, body: str) -> int | None:
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
        Notification.objects.create(
            user=user, channel=CHANNEL_EMAIL, template=template, body=body, status=status
        )
        return status
    except Exception:  # the request already succeeded
        _log.exception("notify.failed", user_id=user_id, template=template)
        return None


def email_on_commit(user_id: int, template: str, subject: str, body: str) -> None:
    transaction.on_commit(lambda: email_user(user_id, template, subject, body), robust=True)
