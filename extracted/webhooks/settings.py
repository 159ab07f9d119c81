"""Django settings of the webhook delivery service (its own project and database)."""

from __future__ import annotations

from extracted.webhooks.config import get_config
from monolith.common.dburl import database_from_url
from strangler.config import get_settings
from strangler.logging import django_logging_config

_s = get_settings()

SECRET_KEY = _s.secret_key
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "extracted.webhooks.urls"
WSGI_APPLICATION = "extracted.webhooks.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "extracted.webhooks.hooks",
]
MIDDLEWARE = [
    "monolith.common.middleware.RequestIdMiddleware",  # binds request_id into structlog
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]

DATABASES = {"default": database_from_url(get_config().database_url)}
USE_TZ = True
TIME_ZONE = "UTC"
USE_I18N = False

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["extracted.webhooks.auth.MerchantApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": None,
}

LOGGING = django_logging_config(_s.log_format, _s.log_level)
