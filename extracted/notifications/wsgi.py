"""WSGI entry point of the notification service."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "extracted.notifications.settings")
application = get_wsgi_application()
