"""Django settings of the ledger query service (its own project and database).

The database is ``STRANGLER_LEDGER_DATABASE_URL``, defaulting to the embedded
server's ``ledger`` database, the same pattern as ``strangler.config`` uses for the
monolith. The wire format (IST timestamps, DRF renderer, error handler, pagination)
is the monolith's, because the responses must be byte-identical to it.
"""

from __future__ import annotations

from extracted.ledger_query.config import ledger_database_url
from monolith.common.dburl import database_from_url
from strangler.config import get_settings
from strangler.logging import django_logging_config

_s = get_settings()

SECRET_KEY = _s.secret_key
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "extracted.ledger_query.urls"
WSGI_APPLICATION = "extracted.ledger_query.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "extracted.ledger_query.ledger",
]

# Same header-level behaviour as the monolith's stack for GET requests (request id,
# security headers, APPEND_SLASH); sessions/CSRF/auth middleware add nothing to an
# API-key GET there, so they are left out here.
MIDDLEWARE = [
    "monolith.common.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "extracted.ledger_query.sync.SyncLagMiddleware",
    # read-your-writes: holds a read the proxy fenced until the client's writes are applied
    "extracted.ledger_query.fence.FenceMiddleware",
]

DATABASES = {"default": database_from_url(ledger_database_url())}

TIME_ZONE = "Asia/Kolkata"  # the legacy API renders IST
USE_TZ = True
USE_I18N = False

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["extracted.ledger_query.auth.LedgerApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["monolith.common.parsers.DecimalJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "monolith.common.pagination.LegacyPagination",
    "PAGE_SIZE": 20,
    "EXCEPTION_HANDLER": "monolith.common.errors.legacy_exception_handler",
    "UNAUTHENTICATED_USER": None,
}

# Above this the sync lag is flagged stale in the response header and the metric.
LEDGER_STALE_AFTER_SECONDS = 2.0

# Read-your-writes fence (extracted.ledger_query.fence): the longest a fenced read may wait
# for a client's writes (the proxy asks for its own wait, capped by this), and how far the
# proxy's clock may run ahead of this database's before a hit turns into a (safe) miss.
LEDGER_FENCE_MAX_WAIT_SECONDS = 0.3
LEDGER_FENCE_CLOCK_MARGIN_SECONDS = 0.25

# The write path (write_path): until KYC is verified a wallet may hold at most this much
# (paise), the monolith's PAYSTREAM_MIN_KYC_BALANCE_LIMIT (a test checks they agree); and the
# monolith's request-body bound.
LEDGER_MIN_KYC_BALANCE_LIMIT = 10_000_00
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

LOGGING = django_logging_config(_s.log_format, _s.log_level)
