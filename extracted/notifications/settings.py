"""Django settings of the notification service (its own project and database)."""

from __future__ import annotations

from extracted.notifications.config import get_config
from monolith.common.dburl import database_from_url
from strangler.config import get_settings
from strangler.logging import django_logging_config

_s = get_settings()

SECRET_KEY = _s.secret_key
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "extracted.notifications.urls"
WSGI_APPLICATION = "extracted.notifications.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "extracted.notifications.notices",
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

LOGGING = django_logging_config(_s.log_format, _s.log_level)
