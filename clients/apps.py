"""App config for clients: the relying-party registry."""

from django.apps import AppConfig


class ClientsConfig(AppConfig):
    name = "clients"
    verbose_name = "Relying-party clients"
