"""URLconf of the notification service."""

from django.urls import path

from extracted.notifications import health

urlpatterns = [
    path("healthz", health.healthz),
    path("readyz", health.readyz),
    path("metrics", health.metrics),
]
