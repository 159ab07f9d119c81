"""Django settings for the PayStream monolith, from strangler's typed settings."""

from __future__ import annotations

from monolith.common.dburl import database_from_url
from strangler.config import get_settings
from strangler.logging import django_logging_config

_s = get_settings()

SECRET_KEY = _s.secret_key
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "monolith.urls"
WSGI_APPLICATION = "monolith.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "monolith.accounts",
    "monolith.wallets",
    "monolith.payouts",
    "monolith.hooks",
    "monolith.reports",
]

MIDDLEWARE = [
    "monolith.common.middleware.RequestIdMiddleware",
    # strangler's anti-corruption layer: tags every captured write with the request id.
    "acl.django.CorrelationMiddleware",
    # strangler's shadow: a copy the proxy marks X-Strangler-Shadow (clients cannot: the proxy strips
    # X-Strangler-*) runs and is rolled back. The proxy's shadow secondary is this monolith, and a
    # shadowed write (ledger.write in shadow) must not run here a second time for real.
    "shadow.dryrun.DryRunMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": database_from_url(_s.monolith_database_url)}

# Legacy: the business runs on IST and the API has always rendered local time.
TIME_ZONE = "Asia/Kolkata"
USE_TZ = True
LANGUAGE_CODE = "en-us"
USE_I18N = False

STATIC_URL = "/static/"
STATIC_ROOT = str(_s.home / "static")

DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["monolith.common.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["monolith.common.parsers.DecimalJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "monolith.common.pagination.LegacyPagination",
    "PAGE_SIZE": 20,
    "EXCEPTION_HANDLER": "monolith.common.errors.legacy_exception_handler",
    "UNAUTHENTICATED_USER": None,
}

CELERY_BROKER_URL = _s.celery_broker_url
CELERY_FOLDER = str(_s.celery_folder)

EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = str(_s.home / "mail")
DEFAULT_FROM_EMAIL = "no-reply@paystream.example"

# Inline webhook delivery (legacy): synchronous, short timeout, in the request.
PAYSTREAM_WEBHOOK_TIMEOUT_SECONDS = 2.0
PAYSTREAM_BANK_FAILURE_SUFFIX = _s.bank_failure_suffix
# Until KYC is verified a wallet may hold at most this much (paise).
PAYSTREAM_MIN_KYC_BALANCE_LIMIT = 10_000_00

LOGGING = django_logging_config(_s.log_format, _s.log_level)
