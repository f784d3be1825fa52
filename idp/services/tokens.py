"""Access tokens and ID tokens: issue, store (hashed), look up.

JWT access tokens follow RFC 9068 (typ at+jwt). Nothing secret or personal beyond `sub` goes
into a token payload. Access tokens issued for a user, and opaque ones, are also recorded
(SHA-256 of the token string), so our own endpoints can honour revocation; resource servers
verify JWTs on their own.

A JWT access token from the client_credentials grant is not recorded when issued: it carries
everything introspection reports, and it belongs to no user, session or refresh family that
could revoke it in bulk. Our endpoints verify it like a resource server would
(`client_token_read`), and revoking one records it, revoked (a tombstone, by hash), until it
expires. Service clients issue tokens the fastest and the most often; this keeps a write and
its commit out of every such request.
"""

import hashlib
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from authlib.oidc.core.util import create_half_hash
from django.utils import timezone

from accounts.claims import user_claims
from clients.models import Client
from clients.services import client_by_pk, client_get_enabled
from idp.conf import idp_settings
from idp.durability import queue_insert
from idp.errors import InvalidTargetError, description
from idp.metrics import tokens_issued
from idp.models import AuthorizationCode, Token
from idp.services.compiled import first_row
from idp.services.keys import TokenInvalid, jwt_sign, jwt_verify, key_ring


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def with_cached_client(record: Any) -> Any:
    """Attach the record's client from the per-process client copies instead of a join of
    the 40-column clients table (clients.services.client_by_pk)."""
    client = client_by_pk(record.client_id)
    if client is not None:
        record.client = client
    return record


def access_token_audience() -> str:
    return idp_settings.ACCESS_TOKEN_AUDIENCE or idp_settings.ISSUER


def resources_resolve(
    *, client: Client, requested: list[str], granted: list[str] | None = None
) -> list[str]:
    """The resources (token audiences) of a request: each one requested must be on the
    client's allow-list and, when narrowing an earlier grant, within what was granted."""
    allowed = set(granted) if granted else set(client.resources)
    unknown = [r for r in requested if r not in allowed]
    if unknown:
        raise InvalidTargetError(description(f"Resource not allowed for this client: {unknown[0]}"))
    return list(dict.fromkeys(requested)) or list(granted or [])


def auth_context(code: AuthorizationCode) -> dict[str, Any]:
    """How and when the user authenticated, carried from the code into every token."""
    return {"auth_time": code.auth_time, "acr": code.acr, "amr": code.amr, "sid": code.sid,
            "claims": code.claims, "resources": code.resources}  # fmt: skip


def access_token_issue(
    *,
    client: Client,
    user,
    scope: str,
    context: dict[str, Any] | None = None,
    code: AuthorizationCode | None = None,
    family: str = "",
    resources: list[str] | None = None,
    grant_type: str = "authorization_code",
) -> dict[str, Any]:
    """Create an access token (JWT or opaque, per client) and record it, unless it is a
    client_credentials JWT (see the module docstring). Returns the token response fields of
    RFC 6749 §5.1. `context` (auth_time, acr, amr, sid, claims) is absent for
    client_credentials."""
    now = int(time.time())
    lifetime = int(client.access_token_ttl.total_seconds())
    jti = uuid.uuid4().hex
    kid = ""
    if client.access_token_format == Client.AccessTokenFormat.JWT:
        claims: dict[str, Any] = {
            "iss": idp_settings.ISSUER,
            "sub": str(user.subject) if user is not None else client.client_id,
            "aud": (resources[0] if len(resources) == 1 else resources)
            if resources
            else access_token_audience(),
            "client_id": client.client_id,
            "iat": now,
            "exp": now + lifetime,
            "jti": jti,
        }
        if scope:
            claims["scope"] = scope
        if context is not None:
            claims["auth_time"] = context["auth_time"]
            if context.get("acr"):
                claims["acr"] = context["acr"]
            if context.get("amr"):
                claims["amr"] = context["amr"]
        alg = client.id_token_signed_response_alg
        access_token = jwt_sign(claims, alg=alg, typ="at+jwt")
        kid = key_ring().active[alg]
        token_format = Token.Format.JWT
    else:
        access_token = secrets.token_urlsafe(32)
        token_format = Token.Format.OPAQUE

    issued_at = datetime.fromtimestamp(now, tz=UTC)
    tokens_issued.labels(grant_type=grant_type, client_id=client.client_id).inc()
    response = {"token_type": "Bearer", "access_token": access_token, "expires_in": lifetime}
    if scope:
        response["scope"] = scope
    if grant_type == "client_credentials" and user is None and token_format == Token.Format.JWT:
        return response  # self-contained: see client_token_read()
    queue_insert(
        Token(
            token_hash=token_hash(access_token),
            format=token_format,
            jti=jti,
            kid=kid,
            client=client,
            user=user,
            scope=scope or "",
            claims=(context or {}).get("claims"),
            authorization_code=code,
            family=family,
            resources=list(resources or []),
            sid=(context or {}).get("sid", ""),
            auth_time=(context or {}).get("auth_time"),
            issued_at=issued_at,
            expires_at=issued_at + timedelta(seconds=lifetime),
        )
    )
    return response


def client_token_read(token: str) -> Token | None:
    """An unrecorded client_credentials JWT we issued, as an unsaved Token record; None for
    anything else (RFC 9068 §4: signature by a published key of ours, typ, iss, exp; then the
    client must still exist and be enabled). Whether it was revoked is the caller's lookup
    of a recorded row with the same hash, made before this."""
    try:
        header, claims = jwt_verify(token, typ="at+jwt")
    except TokenInvalid:
        return None
    client_id = claims.get("client_id")
    exp, iat = claims.get("exp"), claims.get("iat")
    if (
        claims.get("iss") != idp_settings.ISSUER
        or not isinstance(client_id, str)
        or claims.get("sub") != client_id
        or "auth_time" in claims  # a user's token: those are always recorded
        or not isinstance(exp, int)
        or not isinstance(iat, int)
        or exp <= time.time()
    ):
        return None
    client = client_get_enabled(client_id)
    if client is None:
        return None
    aud = claims.get("aud")
    resources = [] if aud == access_token_audience() else aud if isinstance(aud, list) else [aud]
    record = Token(
        token_hash=token_hash(token),
        format=Token.Format.JWT,
        jti=str(claims.get("jti") or ""),
        kid=str(header.get("kid") or ""),
        user=None,
        scope=str(claims.get("scope") or ""),
        resources=[str(r) for r in resources],
        issued_at=datetime.fromtimestamp(iat, tz=UTC),
        expires_at=datetime.fromtimestamp(exp, tz=UTC),
    )
    record.client = client
    return record


def access_token_lookup(token: str) -> Token | None:
    """The live token record for a presented access token, or None if it is unknown,
    expired, revoked, or signed by a key that is no longer published (revoked)."""
    if not isinstance(token, str) or not token or len(token) > 8192:
        return None
    record = first_row(
        Token, {"revoked_at__isnull": True}, related=("user",), token_hash=token_hash(token)
    )
    if record is None or record.expires_at <= timezone.now():
        return None
    if record.format == Token.Format.JWT and record.kid not in key_ring().alg_by_kid:
        return None
    if record.user is not None and not record.user.is_active:
        return None
    if record.resources and access_token_audience() not in record.resources:
        return None  # a token for another API (RFC 8707) is not one for our userinfo
    if not with_cached_client(record).client.is_enabled:
        return None
    return record


def id_token_issue(
    *, client: Client, user, context: dict[str, Any], nonce: str = "", access_token: str | None
) -> str:
    """The ID token of OIDC Core §2 / §3.1.3.6, signed with the client's algorithm.

    An access token is always issued alongside, so scope claims are served by userinfo and
    the ID token carries only what the `claims` request asked for in it (§5.4, §5.5).
    """
    now = int(time.time())
    alg = client.id_token_signed_response_alg
    claims: dict[str, Any] = {
        "iss": idp_settings.ISSUER,
        "sub": str(user.subject),
        "aud": client.client_id,
        "azp": client.client_id,
        "iat": now,
        "exp": now + int(client.id_token_ttl.total_seconds()),
        "auth_time": context["auth_time"],
    }
    if nonce:
        claims["nonce"] = nonce
    if context.get("acr"):
        claims["acr"] = context["acr"]
    if context.get("amr"):
        claims["amr"] = context["amr"]
    if context.get("sid"):
        claims["sid"] = context["sid"]
    if access_token:
        claims["at_hash"] = create_half_hash(access_token, alg).decode("ascii")
    requested = (context.get("claims") or {}).get("id_token") or {}
    if requested:
        extra = user_claims(user, scopes=[], requested=requested)
        claims.update({k: v for k, v in extra.items() if k not in claims})
    return jwt_sign(claims, alg=alg)
