"""App config: label ``notifications``; checks the template catalogue with ``manage.py check``."""

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "extracted.notifications.notices"
    label = "notifications"
    verbose_name = "Notification dispatch (extracted)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from extracted.notifications.notices import checks  # noqa: F401  registers the system check
