"""App config: label ``webhooks`` so it can never clash with the monolith's ``hooks`` app."""

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "extracted.webhooks.hooks"
    label = "webhooks"
    verbose_name = "Webhook delivery (extracted)"
    default_auto_field = "django.db.models.BigAutoField"
