"""App config for the idp package: registers its system checks."""

from django.apps import AppConfig


class IdpConfig(AppConfig):
    name = "idp"
    verbose_name = "Portcullis identity provider"

    def ready(self) -> None:
        from idp import checks, metrics  # noqa: F401  (registers checks and task signals)
