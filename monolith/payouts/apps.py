from django.apps import AppConfig


class PayoutsConfig(AppConfig):
    name = "monolith.payouts"
    label = "payouts"
