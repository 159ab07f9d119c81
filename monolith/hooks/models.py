"""Webhook endpoints and notifications, delivered inline (synchronously) by the monolith."""

from __future__ import annotations

from django.db import models

from monolith.accounts.models import Merchant, User


class WebhookEndpoint(models.Model):
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=64)
    # Legacy: a comma-separated list of event names, e.g. "wallet.credited,payout.paid".
    events = models.TextField(default="*")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "hooks_webhookendpoint"

    def subscribed_to(self, event: str) -> bool:
        names = {e.strip() for e in self.events.split(",") if e.strip()}
        return "*" in names or event in names


class WebhookDelivery(models.Model):
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=64)
    payload = models.TextField()
    response_code = models.SmallIntegerField(null=True)
    error = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "hooks_webhookdelivery"


CHANNEL_EMAIL, CHANNEL_SMS = 1, 2
NOTIF_SENT, NOTIF_FAILED, NOTIF_SKIPPED = 1, 2, 3


class Notification(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    channel = models.SmallIntegerField(choices=[(CHANNEL_EMAIL, "EMAIL"), (CHANNEL_SMS, "SMS")])
    template = models.CharField(max_length=64)
    body = models.TextField()
    status = models.SmallIntegerField(
        choices=[(NOTIF_SENT, "SENT"), (NOTIF_FAILED, "FAILED"), (NOTIF_SKIPPED, "SKIPPED")]
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "hooks_notification"


class NotificationDecision(models.Model):
    """Which path sends a notification (capability ``notifications.email``), decided once.

    Written inside the transaction of the write that causes the notification, so it exists
    exactly when that write's domain events do. One mode per correlation id (the id the
    ACL puts on the events): the extracted notification service reads the same row for
    the same event, so the two sides can never both send, or both skip, across a flip.
    """

    correlation_id = models.CharField(max_length=200, db_index=True)
    mode = models.CharField(max_length=16)  # monolith | shadow | extracted
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    template = models.CharField(max_length=64)
    subject = models.CharField(max_length=255)
    body = models.TextField()
    # the legacy send's record, once the monolith sent (monolith and shadow modes)
    notification = models.ForeignKey(Notification, null=True, on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "hooks_notificationdecision"
