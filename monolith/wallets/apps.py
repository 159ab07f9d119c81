from django.apps import AppConfig


class WalletsConfig(AppConfig):
    name = "monolith.wallets"
    label = "wallets"
