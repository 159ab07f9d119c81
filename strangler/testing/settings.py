"""Settings for the test run: the monolith plus the control plane, each in its own database.

pytest runs one settings module. The monolith keeps ``default``; the control-plane apps
go to the ``control`` alias (``STRANGLER_CONTROL_DATABASE_URL``) through
``ControlPlaneRouter``. Production processes keep their own settings modules.
"""

from __future__ import annotations

from monolith.common.dburl import database_from_url
from monolith.settings import *  # noqa: F403
from monolith.settings import DATABASES, INSTALLED_APPS, REST_FRAMEWORK
from strangler.config import get_settings

INSTALLED_APPS = [*INSTALLED_APPS, "drf_spectacular", "strangler.control.routing",
                  "strangler.control.shadow", "strangler.control.reconciliation",
                  "strangler.control.cutover"]
# No TEST DEPENDENCIES: a test asking only for "control" must not wait for "default".
DATABASES = {**DATABASES, "control": {**database_from_url(get_settings().control_database_url),
                                      "TEST": {"DEPENDENCIES": []}}}
DATABASE_ROUTERS = ["strangler.control.router.ControlPlaneRouter"]
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}

# Extracted services (issue 6): each app in its own alias, routed by ExtractedServicesRouter first.
from extracted.ledger_query.config import ledger_database_url  # noqa: E402

INSTALLED_APPS = [*INSTALLED_APPS, "extracted.ledger_query.ledger"]
DATABASES = {**DATABASES, "ledger": {**database_from_url(ledger_database_url()),
                                     "TEST": {"DEPENDENCIES": []}}}
DATABASE_ROUTERS = ["extracted.router.ExtractedServicesRouter", *DATABASE_ROUTERS]
