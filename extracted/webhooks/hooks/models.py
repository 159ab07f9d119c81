"""Endpoints, subscriptions, deliveries and their attempts; plus what auth and routing need.

The consumer writes deliveries (raw SQL, in its inbox transaction); the Celery task
updates them; the API reads them and lets a merchant manage endpoints. ``(event_id,
endpoint)`` is unique: a redelivered event can never create a second delivery.
Managers are declared because the type checker's settings are the monolith's.
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models


class Endpoint(models.Model):
    objects: ClassVar[models.Manager[Endpoint]] = models.Manager()
    merchant_id = models.BigIntegerField(db_index=True)
    url = models.URLField(max_length=2000)
    secret = models.CharField(max_length=80)  # shown once, at creation
    events = models.JSONField(default=list)  # subscribed webhook event names, or ["*"]
    description = models.CharField(max_length=200, blank=True, default="")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "webhooks_endpoint"


class Delivery(models.Model):
    objects: ClassVar[models.Manager[Delivery]] = models.Manager()
    event_id = models.TextField()
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    merchant_id = models.BigIntegerField()
    event_name = models.CharField(max_length=64)
    payload = models.TextField()  # the exact body; every attempt signs these bytes
    status = models.CharField(max_length=16, default="pending")
    attempts = models.IntegerField(default=0)
    max_attempts = models.IntegerField()  # raised by a manual redeliver
    next_attempt_at = models.DateTimeField()
    lease_until = models.DateTimeField(null=True)  # a worker is sending until then
    last_error = models.TextField(blank=True, default="")
    last_response_code = models.IntegerField(null=True)
    last_attempt_at = models.DateTimeField(null=True)
    delivered_at = models.DateTimeField(null=True)
    created_at = models.DateTimeField()
    # strangling the monolith's inline webhooks (cutover.py): what happened, who delivers it,
    # and for a shadowed delivery the signature header it would have carried
    occurrence = models.TextField(default="", db_default="")
    decided_mode = models.CharField(max_length=16, default="", db_default="")  # '' until decided
    shadow_signature = models.TextField(default="", db_default="")

    class Meta:
        db_table = "webhooks_delivery"
        constraints = [models.UniqueConstraint(fields=["event_id", "endpoint"], name="webhooks_once")]
        indexes = [models.Index(fields=["merchant_id", "-id"], name="webhooks_dlv_merchant"),
                   models.Index(fields=["status", "next_attempt_at"], name="webhooks_dlv_due"),
                   models.Index(fields=["occurrence"], name="webhooks_dlv_occurrence")]


class Attempt(models.Model):
    objects: ClassVar[models.Manager[Attempt]] = models.Manager()
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.IntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.IntegerField()
    address = models.CharField(max_length=64, blank=True, default="")
    response_code = models.IntegerField(null=True)
    error = models.TextField(blank=True, default="")
    response_excerpt = models.TextField(blank=True, default="")

    class Meta:
        db_table = "webhooks_attempt"


class Owner(models.Model):
    """Which merchant a wallet or customer belongs to (from wallet.opened / customer.registered)."""

    objects: ClassVar[models.Manager[Owner]] = models.Manager()
    kind = models.CharField(max_length=8)  # wallet | customer
    ref_id = models.BigIntegerField()
    merchant_id = models.BigIntegerField()

    class Meta:
        db_table = "webhooks_owner"
        constraints = [models.UniqueConstraint(fields=["kind", "ref_id"], name="webhooks_owner_ref")]


class ApiKey(models.Model):
    objects: ClassVar[models.Manager[ApiKey]] = models.Manager()
    key_id = models.BigIntegerField(primary_key=True)
    merchant_id = models.BigIntegerField()
    key_hash = models.CharField(max_length=64, unique=True)  # SHA-256 hex; raw keys are never stored
    issued_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True)

    class Meta:
        db_table = "webhooks_api_key"


class Merchant(models.Model):
    objects: ClassVar[models.Manager[Merchant]] = models.Manager()
    merchant_id = models.BigIntegerField(primary_key=True)
    active = models.BooleanField()
    changed_at = models.DateTimeField()

    class Meta:
        db_table = "webhooks_merchant"


class Unrouted(models.Model):
    """An event whose wallet/customer owner is not known yet (its opening event is on another
    topic and has not arrived). Routed, then deleted, when the owner's event arrives."""

    objects: ClassVar[models.Manager[Unrouted]] = models.Manager()
    event_id = models.TextField(unique=True)
    kind = models.CharField(max_length=8)  # wallet | customer
    ref_id = models.BigIntegerField()
    event_name = models.CharField(max_length=64)
    payload = models.TextField()
    received_at = models.DateTimeField()

    class Meta:
        db_table = "webhooks_unrouted"
        indexes = [models.Index(fields=["kind", "ref_id"], name="webhooks_unrouted_ref")]
