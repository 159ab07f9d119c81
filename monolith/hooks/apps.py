from django.apps import AppConfig


class HooksConfig(AppConfig):
    name = "monolith.hooks"
    label = "hooks"
