"""Admin for webhook endpoints, their delivery log and email notifications."""

from __future__ import annotations

from django.contrib import admin

from monolith.hooks.models import Notification, WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["id", "merchant", "url", "events", "is_active", "created_at"]
    list_filter = ["is_active"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "endpoint", "event", "response_code", "error", "created_at"]
    list_filter = ["event", "response_code"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "channel", "template", "status", "created_at"]
    list_filter = ["channel", "status", "template"]
