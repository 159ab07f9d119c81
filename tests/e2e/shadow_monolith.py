"""Test-only: the monolith as a shadow candidate or secondary — Django settings and WSGI app in one module.

Run ``gunicorn tests.e2e.shadow_monolith:application`` with
``DJANGO_SETTINGS_MODULE=tests.e2e.shadow_monolith``: the monolith's own settings
plus ``shadow.dryrun.DryRunMiddleware`` right after the anti-corruption layer's
correlation middleware, as an extracted service would install it, so a shadow copy
of a write runs and is rolled back and answers with its would-be events. With
``STRANGLER_PLANTED_BUG`` naming ``monolith.credit_one_paisa_more`` (only the shadow
e2e test sets it) every credit adds one paisa: the write candidate's planted bug.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from monolith.settings import *  # noqa: F403 - these are the monolith's settings, extended
from monolith.settings import MIDDLEWARE as _MONOLITH_MIDDLEWARE

_AFTER = _MONOLITH_MIDDLEWARE.index("acl.django.CorrelationMiddleware") + 1
MIDDLEWARE = [*_MONOLITH_MIDDLEWARE[:_AFTER], "shadow.dryrun.DryRunMiddleware",
              *_MONOLITH_MIDDLEWARE[_AFTER:]]
PLANTED_PAISA_BUG = "monolith.credit_one_paisa_more"
_app: Any = None
_building = threading.Lock()


def _plant_the_paisa_bug() -> None:
    from monolith.wallets import services

    real_credit = services.credit

    def one_paisa_more(merchant: Any, wallet_id: int, amount: int, **fields: Any) -> Any:
        return real_credit(merchant, wallet_id, amount + 1, **fields)

    services.credit = one_paisa_more  # the views call services.credit(...) through the module


def application(environ: dict[str, Any], start_response: Any) -> Any:
    """Built on the first request: Django imports this module as its settings first."""
    global _app
    with _building:  # gunicorn threads: build once
        if _app is None:
            from django.core.wsgi import get_wsgi_application

            built = get_wsgi_application()
            if PLANTED_PAISA_BUG in os.environ.get("STRANGLER_PLANTED_BUG", "").split(","):
                _plant_the_paisa_bug()
            _app = built
    return _app(environ, start_response)
