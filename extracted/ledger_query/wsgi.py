"""WSGI entry point of the ledger query service.

``DJANGO_SETTINGS_MODULE`` defaults to the ledger's settings. One naming another
project's settings (a process started with the monolith's environment, say) is refused:
this entry point would otherwise serve that project's URLs and database under the
ledger's name.
"""

import os

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

SETTINGS_MODULE = "extracted.ledger_query.settings"
LEDGER_URLCONF = "extracted.ledger_query.urls"

os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
application = get_wsgi_application()


def _check_project() -> None:
    from django.conf import settings

    if settings.ROOT_URLCONF != LEDGER_URLCONF:
        raise ImproperlyConfigured(
            f"extracted.ledger_query.wsgi was started with DJANGO_SETTINGS_MODULE="
            f"{os.environ['DJANGO_SETTINGS_MODULE']!r}, whose ROOT_URLCONF is {settings.ROOT_URLCONF!r}: "
            f"it would serve that project, not the ledger. Unset it or set it to {SETTINGS_MODULE!r}."
        )


_check_project()
