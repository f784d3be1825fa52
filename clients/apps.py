"""App config for clients: the relying-party registry."""

from django.apps import AppConfig


class ClientsConfig(AppConfig):
    name = "clients"
    verbose_name = "Relying-party clients"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from clients.models import Client
        from clients.services import client_cache_invalidate

        # Saves from anywhere (services, admin, shell) drop the cached lookups; services
        # that write with QuerySet.update() call client_cache_invalidate() themselves.
        post_save.connect(client_cache_invalidate, sender=Client, dispatch_uid="client_cache")
        post_delete.connect(client_cache_invalidate, sender=Client, dispatch_uid="client_cache")
