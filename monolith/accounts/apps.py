from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "monolith.accounts"
    label = "accounts"

    def ready(self) -> None:
        from monolith.accounts import signals  # noqa: F401
