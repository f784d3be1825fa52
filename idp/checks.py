"""Django system checks for the deployment settings only Portcullis knows about."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security)
def issuer_format_check(app_configs, **kwargs):
    """OIDC Discovery §3: the issuer is an absolute URL with no query or fragment."""
    issuer = urlsplit(settings.IDP_ISSUER)
    if (
        issuer.scheme in {"http", "https"}
        and issuer.hostname
        and not (issuer.query or issuer.fragment)
    ):
        return []
    return [
        Error(
            f"IDP_ISSUER={settings.IDP_ISSUER!r} must be an absolute http(s) URL without "
            "query or fragment.",
            id="idp.E001",
        )
    ]


@register(Tags.security, deploy=True)
def issuer_https_check(app_configs, **kwargs):
    """The issuer every RP pins must be https in production; loopback hosts are exempt."""
    if settings.ISSUER_IS_HTTPS or settings.ISSUER_IS_LOOPBACK or settings.DEBUG:
        return []
    return [
        Error(
            f"IDP_ISSUER={settings.IDP_ISSUER!r} must use https when DEBUG is off.",
            hint="Serve Portcullis behind TLS and set IDP_ISSUER=https://your.host",
            id="idp.E002",
        )
    ]


@register(Tags.security, deploy=True)
def key_encryption_check(app_configs, **kwargs):
    """Private signing keys must be encrypted under their own key in production, not one
    derived from SECRET_KEY (a loopback issuer is a local run and is exempt)."""
    if settings.IDP_KEY_ENCRYPTION_KEYS:
        from cryptography.fernet import Fernet

        try:
            for key in settings.IDP_KEY_ENCRYPTION_KEYS:
                Fernet(key)
        except (ValueError, TypeError):
            return [
                Error(
                    "IDP_KEY_ENCRYPTION_KEYS holds a value that is not a Fernet key.",
                    hint="Each key is 32 url-safe base64-encoded bytes: generate one with "
                    "Fernet.generate_key().",
                    id="idp.E005",
                )
            ]
        return []
    if settings.ISSUER_IS_LOOPBACK or settings.DEBUG:
        return []
    return [
        Error(
            "IDP_KEY_ENCRYPTION_KEYS is not set: private signing keys would be encrypted under "
            "a key derived from SECRET_KEY.",
            hint="Set IDP_KEY_ENCRYPTION_KEYS to a Fernet key: python -c 'from "
            "cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'",
            id="idp.E003",
        )
    ]


@register(Tags.caches, deploy=True)
def shared_cache_check(app_configs, **kwargs):
    """Processes learn of key rotations and revocations through the shared cache; with the
    per-process local-memory cache of a local run, another worker would keep signing with a
    revoked key. Production (any non-loopback issuer) needs REDIS_URL."""
    if settings.REDIS_URL or settings.ISSUER_IS_LOOPBACK or settings.DEBUG:
        return []
    return [
        Error(
            "REDIS_URL is not set: several processes cannot share key rotations, revocations, "
            "sessions and pending sign-ins through a local-memory cache.",
            hint="Set REDIS_URL=redis://host:6379/0 (and run a Celery worker and beat).",
            id="idp.E004",
        )
    ]
