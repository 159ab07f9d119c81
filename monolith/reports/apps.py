from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "monolith.reports"
    label = "reports"
