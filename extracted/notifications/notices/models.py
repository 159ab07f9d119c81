"""The service's own tables. The consumer and dispatcher write them with SQL (psycopg); these
models define the schema (migrations) and serve the admin/management commands.

- ``Notification``: one row per (event id, channel, recipient), written in the inbox
  transaction that consumed the event, so a redelivered event cannot add a second one;
  its ``status`` is how the send after commit stays single (see ``dispatch``).
- ``Customer``/``Wallet``/``Payout``: what the events told us about who gets what.
- ``Preference``/``CustomerLocale``: per-customer channel opt-in/out and language.
- ``Parked``: a notification event whose customer, wallet or payout is not known yet.
"""

from __future__ import annotations

from django.db import models

STATUSES = ("shadowed", "pending", "sending", "retrying", "sent", "failed", "uncertain", "skipped")


class Notification(models.Model):
    event_id = models.CharField(max_length=200)
    channel = models.CharField(max_length=8)
    recipient = models.CharField(max_length=320)
    kind = models.CharField(max_length=40)
    customer_id = models.BigIntegerField()
    locale = models.CharField(max_length=16)
    subject = models.TextField()
    body = models.TextField()
    mode = models.CharField(max_length=16, help_text="shadow: recorded, never sent | extracted: sent")
    status = models.CharField(max_length=16)
    attempts = models.IntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    lease_until = models.DateTimeField(null=True)
    last_error = models.TextField(default="", blank=True)
    correlation_id = models.CharField(max_length=200, null=True, db_index=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True)

    class Meta:
        db_table = "notifications_notification"
        constraints = [models.UniqueConstraint(fields=["event_id", "channel", "recipient"],
                                               name="notifications_once_per_event_channel_recipient")]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="notifications_due")]


class Customer(models.Model):
    customer_id = models.BigIntegerField(primary_key=True)
    email = models.CharField(max_length=320, null=True)
    phone = models.CharField(max_length=40, null=True)
    full_name = models.CharField(max_length=200, default="")
    changed_at = models.DateTimeField()

    class Meta:
        db_table = "notifications_customer"


class Wallet(models.Model):
    wallet_id = models.BigIntegerField(primary_key=True)
    customer_id = models.BigIntegerField()

    class Meta:
        db_table = "notifications_wallet"


class Payout(models.Model):
    payout_id = models.BigIntegerField(primary_key=True)
    wallet_id = models.BigIntegerField()
    amount = models.CharField(max_length=40)
    currency = models.CharField(max_length=3)

    class Meta:
        db_table = "notifications_payout"


class Preference(models.Model):
    customer_id = models.BigIntegerField()
    kind = models.CharField(max_length=40, help_text="a notification kind, or * for all")
    channel = models.CharField(max_length=8)
    enabled = models.BooleanField()

    class Meta:
        db_table = "notifications_preference"
        constraints = [models.UniqueConstraint(fields=["customer_id", "kind", "channel"],
                                               name="notifications_one_preference")]


class CustomerLocale(models.Model):
    customer_id = models.BigIntegerField(primary_key=True)
    locale = models.CharField(max_length=16)

    class Meta:
        db_table = "notifications_locale"


class Parked(models.Model):
    event_id = models.CharField(max_length=200, primary_key=True)
    waiting_kind = models.CharField(max_length=16, help_text="customer | wallet | payout")
    waiting_ref = models.BigIntegerField()
    event_type = models.CharField(max_length=100)
    data = models.JSONField()
    correlation_id = models.CharField(max_length=200, null=True)
    parked_at = models.DateTimeField()

    class Meta:
        db_table = "notifications_parked"
        indexes = [models.Index(fields=["waiting_kind", "waiting_ref"], name="notifications_parked_on")]
