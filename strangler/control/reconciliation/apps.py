"""App config: registers the parity certificate as the routing gates' reconciliation evidence."""

from django.apps import AppConfig


class ReconciliationConfig(AppConfig):
    name = "strangler.control.reconciliation"
    label = "reconciliation"
    verbose_name = "Reconciliation (ledger parity)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from strangler.control.reconciliation.evidence import register

        register()
