"""WSGI entry point of the webhook delivery service."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "extracted.webhooks.settings")
application = get_wsgi_application()
