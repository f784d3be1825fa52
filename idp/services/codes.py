"""Authorization codes: issued once, redeemed once, and a replay revokes what they gave."""

import hashlib
import logging
from typing import Any

from django.utils import timezone

from clients.models import Client
from idp.conf import idp_settings
from idp.durability import commit_durably, insert_without_waiting
from idp.models import AuthorizationCode, Token
from idp.services.compiled import update_returning

logger = logging.getLogger("portcullis.idp")


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def authorization_code_issue(*, code: str, client: Client, user, **fields: Any) -> None:
    """Store a new code (only its hash) with everything the token endpoint will need: one
    statement whose commit does not wait for the disk (idp.durability)."""
    now = timezone.now()
    insert_without_waiting(
        AuthorizationCode(
            code_hash=code_hash(code),
            client=client,
            user=user,
            created_at=now,
            expires_at=now + idp_settings.AUTHORIZATION_CODE_TTL,
            **fields,
        )
    )


def authorization_code_redeem(*, code: str, client: Client) -> AuthorizationCode | None:
    """Mark the code used and return it, or None if it is unknown, expired, another
    client's, or already used. A second redemption revokes every token issued from the
    code (RFC 6749 §4.1.2): whoever holds it, one of the two parties is an attacker.
    """
    if not isinstance(code, str) or not code or len(code) > 512:
        return None
    digest, now = code_hash(code), timezone.now()
    # One atomic UPDATE decides the race between two redemptions of the same code.
    redeemed = update_returning(
        AuthorizationCode, {"used_at__isnull": True}, values={"used_at": now},
        key={"code_hash": digest}, related=("user",), client_id=client.pk, expires_at__gt=now,
    )  # fmt: skip
    if redeemed is not None:
        return redeemed
    replayed = AuthorizationCode.objects.filter(
        code_hash=digest, client=client, used_at__isnull=False
    ).first()
    if replayed is not None:
        from idp.services.refresh import refresh_family_revoke

        commit_durably()
        issued = Token.objects.filter(authorization_code=replayed)
        for family in set(issued.exclude(family="").values_list("family", flat=True)):
            refresh_family_revoke(family=family, reason="code_replay")
        revoked = issued.filter(revoked_at__isnull=True).update(revoked_at=now)
        from accounts.audit import audit

        audit("authorization_code_replayed", user=replayed.user, client=client,
              tokens_revoked=revoked)  # fmt: skip
        logger.warning(
            "authorization_code_replayed client_id=%s user_id=%s tokens_revoked=%d",
            client.client_id,
            replayed.user_id,
            revoked,
        )
    return None
