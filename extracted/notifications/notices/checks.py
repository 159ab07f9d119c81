"""System check ``notifications.E001``: the template catalogue loads (``manage.py check``, deploys)."""

from __future__ import annotations

from typing import Any

from django.core import checks

from extracted.notifications import templates
from extracted.notifications.config import get_config
from extracted.notifications.errors import NotificationsError


@checks.register()
def template_catalogue(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    try:
        config = get_config()
        templates.load(config.templates_dir, config.fallback_locale)
    except NotificationsError as exc:
        return [checks.Error(str(exc), hint="Fix the template files; nothing can be sent until then.",
                             id="notifications.E001")]
    return []
