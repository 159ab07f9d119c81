"""Django settings of the control plane process (API, admin, CLI), from strangler's typed settings.

Its only database is the control plane's own (``STRANGLER_CONTROL_DATABASE_URL``),
never the monolith's.
"""

from __future__ import annotations

from monolith.common.dburl import database_from_url
from strangler.config import get_settings
from strangler.logging import django_logging_config

_s = get_settings()

SECRET_KEY = _s.secret_key
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "strangler.control.urls"
WSGI_APPLICATION = "strangler.control.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "strangler.control.routing",
    "strangler.control.shadow",
    "strangler.control.reconciliation",
    "strangler.control.cutover",
]

MIDDLEWARE = [
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

DATABASES = {"default": database_from_url(_s.control_database_url)}

TIME_ZONE = "UTC"
USE_TZ = True
LANGUAGE_CODE = "en-us"
USE_I18N = False
STATIC_URL = "/static/"
STATIC_ROOT = str(_s.home / "control-static")

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "strangler control plane",
    "DESCRIPTION": "Routes, cutover flags, gates and the audit log of the strangler routing proxy.",
    "VERSION": "1",
}

LOGGING = django_logging_config(_s.log_format, _s.log_level)
