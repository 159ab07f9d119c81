"""App config of the cutover plans (label ``cutover``)."""

from django.apps import AppConfig


class CutoverConfig(AppConfig):
    name = "strangler.control.cutover"
    label = "cutover"
    verbose_name = "Cutover plans (migration state machine)"
    default_auto_field = "django.db.models.BigAutoField"
