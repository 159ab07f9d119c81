"""WSGI entry point of the ledger query service."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "extracted.ledger_query.settings")
application = get_wsgi_application()
