"""Refresh tokens: issued to clients allowed the grant, rotated on every use, and a replay
of a used one revokes its whole family (RFC 9700 §4.14.2)."""

import logging
import secrets
import uuid

from django.db import transaction
from django.utils import timezone

from clients.models import Client
from idp.conf import idp_settings
from idp.durability import claim_on_issue, commit_durably, queue_insert
from idp.models import RefreshToken, Token
from idp.services.compiled import first_row
from idp.services.tokens import token_hash

logger = logging.getLogger("portcullis.idp")


def refresh_token_wanted(*, client: Client, scope: str) -> bool:
    """OIDC Core §11: an OpenID request gets a refresh token only with offline_access; a
    plain OAuth request does whenever the client may use the refresh_token grant."""
    if not client.check_grant_type("refresh_token"):
        return False
    scopes = scope.split()
    return "offline_access" in scopes or "openid" not in scopes


def refresh_token_issue(
    *, client: Client, user, scope: str, context: dict, family: str | None = None,
    family_expires_at=None, resources: list[str] | None = None,
) -> tuple[str, str]:  # fmt: skip
    """Create a refresh token; a new family unless `family` continues one. Returns
    (token, family)."""
    now = timezone.now()
    family = family or uuid.uuid4().hex
    if family_expires_at is None:
        family_expires_at = now + client.refresh_token_ttl
    token = secrets.token_urlsafe(32)
    queue_insert(
        RefreshToken(
            token_hash=token_hash(token),
            family=family,
            client=client,
            user=user,
            scope=scope,
            claims=context.get("claims"),
            resources=resources or [],
            auth_time=context["auth_time"],
            acr=context.get("acr", ""),
            amr=context.get("amr", []),
            sid=context.get("sid", ""),
            issued_at=now,
            expires_at=min(family_expires_at, now + idp_settings.REFRESH_TOKEN_IDLE_TTL),
            family_expires_at=family_expires_at,
        )
    )
    return token, family


def refresh_token_find(*, token: str, client: Client) -> RefreshToken | None:
    """The live refresh token presented by `client`, or None. Presenting a token that was
    already used (rotated) revokes its family: the legitimate holder's next refresh fails
    too, and the event is logged for the operator."""
    if not isinstance(token, str) or not token or len(token) > 512:
        return None
    # By the hash alone, the client checked after: with `client_id` in the WHERE clause too,
    # PostgreSQL may plan the prepared statement on the client's index (every token the
    # client holds, read on every refresh) rather than the unique one.
    record = first_row(RefreshToken, related=("user",), token_hash=token_hash(token))
    if record is None or record.client_id != client.pk or record.revoked_at is not None:
        return None
    record.client = client  # the one that authenticated: no second lookup
    if record.used_at is not None:
        refresh_family_revoke(family=record.family, reason="reuse")
        return None
    if record.expires_at <= timezone.now() or not record.user.is_active:
        return None
    return record


def refresh_token_claim(*, record: RefreshToken) -> None:
    """Retire the token with what replaces it, all or nothing, when the token request ends
    (idp.durability); if a concurrent request retired it first, that is a reuse: nothing is
    written, and the family is revoked."""
    claim_on_issue(
        record, field="used_at", value=timezone.now(),
        on_lost=lambda: refresh_family_revoke(family=record.family, reason="reuse"),
    )  # fmt: skip


@transaction.atomic
def refresh_family_revoke(*, family: str, reason: str) -> int:
    """Revoke every refresh token of a family and every access token issued with them."""
    commit_durably()
    now = timezone.now()
    refresh = RefreshToken.objects.filter(family=family, revoked_at__isnull=True)
    first = (
        refresh.select_related("client").first()
        or RefreshToken.objects.filter(family=family).select_related("client").first()
    )
    count = refresh.update(revoked_at=now)
    access = Token.objects.filter(family=family, revoked_at__isnull=True).update(revoked_at=now)
    if reason == "reuse":
        from accounts.audit import audit

        audit("refresh_token_reuse_detected", user=first.user if first else None,
              client=first.client if first else None, family=family)  # fmt: skip
    log = logger.warning if reason == "reuse" else logger.info
    log(
        "refresh_token_family_revoked reason=%s family=%s client_id=%s user_id=%s "
        "refresh_tokens=%d access_tokens=%d",
        reason,
        family,
        first.client.client_id if first else "",
        first.user_id if first else "",
        count,
        access,
    )
    return count + access


def refresh_tokens_revoke_for_session(*, sid: str) -> int:
    """At the end of a sign-in session, revoke the refresh-token families born in it, for
    the clients configured to want that (the default)."""
    if not sid:
        return 0
    families = set(
        RefreshToken.objects.filter(
            sid=sid, revoked_at__isnull=True, client__revoke_refresh_tokens_on_logout=True
        ).values_list("family", flat=True)
    )
    return sum(refresh_family_revoke(family=f, reason="logout") for f in families)
