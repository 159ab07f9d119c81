"""App config: registers the shadow evidence provider for the routing gates when Django is ready."""

from __future__ import annotations

from django.apps import AppConfig


class ShadowConfig(AppConfig):
    name = "strangler.control.shadow"
    label = "shadow"
    verbose_name = "Shadow traffic"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from strangler.control.routing.evidence import register_provider
        from strangler.control.shadow.evidence import shadow_evidence

        register_provider("shadow", shadow_evidence)
