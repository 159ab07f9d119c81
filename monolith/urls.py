"""PayStream URLconf: the legacy REST API under /api/v1/, admin and health."""

from django.contrib import admin
from django.urls import include, path

from monolith.common import health

urlpatterns = [
    path("healthz", health.healthz),
    path("readyz", health.readyz),
    path("admin/", admin.site.urls),
    path("api/v1/", include("monolith.api_urls")),
]

# Django-level 404/500 (unknown URLs, crashes outside DRF) are JSON on /api/ paths too.
handler404 = "monolith.common.errors.json_not_found"
handler500 = "monolith.common.errors.json_server_error"
