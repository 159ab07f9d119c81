"""Routes of the legacy REST API (/api/v1/...)."""

from django.urls import path

urlpatterns: list = []
