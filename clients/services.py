"""Everything that can happen to a client: create, update, rotate its secret, disable, delete.

Admin, CLI and the registration endpoint all call these, so one set of rules applies.
"""

import logging
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.audit import audit
from clients.credentials import client_secret_generate
from clients.models import Client
from idp.conf import idp_settings
from idp.memo import VersionedMemo

logger = logging.getLogger("portcullis.clients")

# What an operator may set; the credentials and bookkeeping fields are not in this list.
EDITABLE_FIELDS = frozenset(
    f.name for f in Client._meta.get_fields() if getattr(f, "editable", False) and f.concrete
) - {"id", "created_at", "updated_at"}


class ClientNotFound(Exception):
    """No client with that client_id."""


def _apply(client: Client, attributes: dict[str, Any]) -> None:
    unknown = set(attributes) - EDITABLE_FIELDS
    if unknown:
        raise TypeError(f"Not client settings: {', '.join(sorted(unknown))}")
    for name, value in attributes.items():
        setattr(client, name, value)


def client_create(*, name: str, **attributes: Any) -> tuple[Client, str | None]:
    """Register a client. Returns it and its secret, which exists only in this return value
    (None for a public client). Raises ValidationError with field-level messages."""
    client = Client(name=name)
    _apply(client, attributes)
    secret = client_register(client=client)
    return client, secret


@transaction.atomic
def client_register(*, client: Client) -> str | None:
    """Validate and save a new, unsaved client, giving a confidential one its first secret.
    Returns that secret: it is not stored anywhere and cannot be shown again."""
    if client.pk is not None:
        raise ValueError("client_register() takes a new client")
    secret = None
    client.full_clean()
    if not client.is_public:
        secret = client_secret_generate()
        client.secret_set(secret)
    client.save()
    logger.info("client_created client_id=%s type=%s", client.client_id, client.client_type)
    audit("client_created", client=client, name=client.name, type=client.client_type)
    return secret


@transaction.atomic
def client_update(*, client: Client, **attributes: Any) -> Client:
    """Change a client's settings; on a validation error nothing is written."""
    locked = Client.objects.select_for_update().get(pk=client.pk)
    was_public = locked.is_public
    _apply(locked, attributes)
    locked.full_clean()
    if was_public and not locked.is_public and not locked.secret_hash:
        raise ValidationError(
            {"client_type": "A public client has no secret: create a new confidential client."}
        )
    if locked.is_public:
        locked.secret_hash = locked.previous_secret_hash = ""
        locked.previous_secret_expires_at = None
    locked.save()
    logger.info("client_updated client_id=%s fields=%s", locked.client_id, ",".join(attributes))
    audit("client_updated", client=locked, fields=sorted(attributes))
    return locked


@transaction.atomic
def client_secret_rotate(*, client: Client, grace: timedelta | None = None) -> str:
    """Issue a new secret. The previous one keeps working for `grace` (default: the
    IDP_CLIENT_SECRET_GRACE_PERIOD setting), so apps can be rolled over without downtime."""
    locked = Client.objects.select_for_update().get(pk=client.pk)
    if locked.is_public:
        raise ValidationError({"client_type": "A public client has no secret to rotate."})
    grace = idp_settings.CLIENT_SECRET_GRACE_PERIOD if grace is None else grace
    secret = client_secret_generate()
    locked.secret_set(secret, grace=grace)
    locked.save(
        update_fields=[
            "secret_hash",
            "secret_rotated_at",
            "previous_secret_hash",
            "previous_secret_expires_at",
            "updated_at",
        ]
    )
    client.refresh_from_db()
    audit("client_secret_rotated", client=locked, grace_seconds=int(grace.total_seconds()))
    logger.info(
        "client_secret_rotated client_id=%s grace_seconds=%d",
        locked.client_id,
        grace.total_seconds(),
    )
    return secret


def client_disable(*, client: Client) -> Client:
    """Stop new sign-ins and token requests for the client at once."""
    return _client_set_enabled(client, enabled=False)


def client_enable(*, client: Client) -> Client:
    return _client_set_enabled(client, enabled=True)


def _client_set_enabled(client: Client, *, enabled: bool) -> Client:
    Client.objects.filter(pk=client.pk).update(is_enabled=enabled)
    client_cache_invalidate()
    client.refresh_from_db()
    event = "client_enabled" if enabled else "client_disabled"
    logger.info("%s client_id=%s", event, client.client_id)
    audit(event, client=client)
    return client


def client_delete(*, client: Client) -> None:
    client_id = client.client_id
    client.delete()
    logger.info("client_deleted client_id=%s", client_id)
    audit("client_deleted", client=client_id)


def client_get(client_id: str) -> Client:
    """Look a client up by client_id, enabled or not."""
    try:
        return Client.objects.get(client_id=client_id)
    except Client.DoesNotExist:
        raise ClientNotFound(client_id) from None


# Every OAuth request looks its client up: the lookup is served from a per-process copy
# (idp/memo.py), dropped whenever any client changes. The copies are shared by requests and
# must never be modified; services that change a client load their own row.
_enabled_clients = VersionedMemo("clients:version")


def client_get_enabled(client_id: str) -> Client | None:
    """The client an OAuth request names, or None if unknown or disabled."""
    if not isinstance(client_id, str) or not client_id or len(client_id) > 100:
        return None
    return _enabled_clients.get(
        client_id, lambda: Client.objects.filter(client_id=client_id, is_enabled=True).first()
    )


def client_by_pk(pk: int) -> Client | None:
    """Any client, enabled or not, by primary key, from the same per-process copies: for
    records that point at their client (tokens), so the lookup costs no join."""
    return _enabled_clients.get(("pk", pk), lambda: Client.objects.filter(pk=pk).first())


def client_cache_invalidate(**kwargs: Any) -> None:
    """Any change to any client: every process looks clients up afresh (after commit)."""
    _enabled_clients.invalidate()
