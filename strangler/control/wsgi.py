"""WSGI entry point of the control plane (``gunicorn strangler.control.wsgi:application``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "strangler.control.settings")
application = get_wsgi_application()
