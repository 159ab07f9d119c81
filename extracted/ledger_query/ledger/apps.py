"""App config: label ``ledger_query`` so it can never clash with a monolith app."""

from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "extracted.ledger_query.ledger"
    label = "ledger_query"
    verbose_name = "Ledger query (extracted)"
    default_auto_field = "django.db.models.BigAutoField"
