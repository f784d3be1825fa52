"""Authlib endpoint subclasses: token revocation (RFC 7009) and introspection (RFC 7662)."""

import contextlib
from dataclasses import dataclass

from authlib.oauth2.rfc7009 import RevocationEndpoint as BaseRevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as BaseIntrospectionEndpoint
from django.db import IntegrityError, transaction
from django.utils import timezone

from idp.conf import idp_settings
from idp.grants import TOKEN_ENDPOINT_AUTH_METHODS
from idp.models import RefreshToken, Token
from idp.services.compiled import first_row
from idp.services.keys import key_ring
from idp.services.refresh import refresh_family_revoke
from idp.services.tokens import (
    access_token_audience,
    client_token_read,
    token_hash,
    with_cached_client,
)


@dataclass
class Found:
    """A token we issued, access or refresh, as Authlib's endpoints expect it."""

    kind: str  # "access_token" or "refresh_token"
    record: Token | RefreshToken

    def check_client(self, client) -> bool:
        return self.record.client_id == client.pk

    def get_scope(self) -> str:
        return self.record.scope

    def is_expired(self) -> bool:
        record = self.record
        if record.expires_at <= timezone.now():
            return True
        # A JWT whose signing key was revoked (or removed) is no longer valid anywhere.
        return (
            self.kind == "access_token"
            and record.format == Token.Format.JWT
            and (record.kid not in key_ring().alg_by_kid)
        )

    def is_revoked(self) -> bool:
        record = self.record
        if record.revoked_at is not None or not record.client.is_enabled:
            return True
        if self.kind == "refresh_token" and record.used_at is not None:
            return True
        return record.user is not None and not record.user.is_active


def token_find(token: str, hint: str | None) -> Found | None:
    """Look a presented token up by its hash, trying the hinted kind first (RFC 7009 §2.1)."""
    if not isinstance(token, str) or not token or len(token) > 8192:
        return None
    digest = token_hash(token)
    kinds = ["refresh_token", "access_token"] if hint == "refresh_token" else [
        "access_token", "refresh_token"
    ]  # fmt: skip
    for kind in kinds:
        model = Token if kind == "access_token" else RefreshToken
        record = first_row(model, related=("user",), token_hash=digest)
        if record is not None:
            return Found(kind, with_cached_client(record))
    # Not recorded, and so not revoked: a client_credentials JWT (idp.services.tokens).
    record = client_token_read(token)
    return Found("access_token", record) if record is not None else None


class RevocationEndpoint(BaseRevocationEndpoint):
    """RFC 7009. Revoking a refresh token revokes its family and the access tokens issued
    with it; revoking an access token revokes that token."""

    CLIENT_AUTH_METHODS = TOKEN_ENDPOINT_AUTH_METHODS

    def query_token(self, token_string, token_type_hint):
        return token_find(token_string, token_type_hint)

    def revoke_token(self, token: Found, request) -> None:
        if token.kind == "refresh_token":
            refresh_family_revoke(family=token.record.family, reason="revoked")
        elif token.record.pk is None:
            # An unrecorded client_credentials JWT: record it, revoked, so that it stays
            # inactive here until it expires (pruned with the other expired records).
            token.record.revoked_at = timezone.now()
            with contextlib.suppress(IntegrityError), transaction.atomic():
                token.record.save()  # a concurrent revocation recorded it first
        else:
            Token.objects.filter(pk=token.record.pk, revoked_at__isnull=True).update(
                revoked_at=timezone.now()
            )


class IntrospectionEndpoint(BaseIntrospectionEndpoint):
    """RFC 7662, for clients flagged as resource servers. Anything unknown, expired,
    revoked, signed by a revoked key, or asked about by a client that may not introspect it
    is `{"active": false}`."""

    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def query_token(self, token_string, token_type_hint):
        return token_find(token_string, token_type_hint)

    def check_permission(self, token: Found, client, request) -> bool:
        # A resource server may ask about any access token; a client about its own tokens.
        # A refresh token is never shown to an API: it must not pass for a bearer token.
        if token.check_client(client):
            return True
        return client.is_resource_server and token.kind == "access_token"

    def introspect_token(self, token: Found) -> dict:
        record = token.record
        payload = {
            "active": True,
            "token_type": "Bearer" if token.kind == "access_token" else "refresh_token",
            "client_id": record.client.client_id,
            "scope": record.scope,
            "iss": idp_settings.ISSUER,
            "exp": int(record.expires_at.timestamp()),
            "iat": int(record.issued_at.timestamp()),
            "sub": str(record.user.subject) if record.user else record.client.client_id,
        }
        if token.kind == "access_token":
            resources = record.resources
            payload["aud"] = (
                (resources[0] if len(resources) == 1 else resources)
                if resources
                else access_token_audience()
            )
            if record.jti:
                payload["jti"] = record.jti
        if record.auth_time:
            payload["auth_time"] = record.auth_time
        return payload
