"""App config of the control plane's routing app (label ``routing``)."""

from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "strangler.control.routing"
    label = "routing"
    verbose_name = "Routing (cutover flags)"
    default_auto_field = "django.db.models.BigAutoField"
