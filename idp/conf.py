"""The IDP_* protocol settings: one object with documented defaults.

    from idp.conf import idp_settings
    idp_settings.ISSUER

Values come from Django settings named IDP_<NAME> (filled from environment variables of the
same name in idp/settings.py) and fall back to the defaults below. The object reloads on
Django's `setting_changed` signal, so `override_settings` works in tests.
"""

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

DEFAULTS: dict[str, Any] = {
    # The public URL of this provider; every URL we emit is built from it, never from Host.
    "ISSUER": "http://127.0.0.1:8000",
}


class IdpSettings:
    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown Portcullis setting IDP_{name}")
        if name not in self._cache:
            self._cache[name] = getattr(settings, f"IDP_{name}", DEFAULTS[name])
        return self._cache[name]

    def reload(self) -> None:
        self._cache.clear()


idp_settings = IdpSettings()


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith("IDP_"):
        idp_settings.reload()


setting_changed.connect(_reload)
