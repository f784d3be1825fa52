"""Authorization codes: issued once, redeemed once, and a replay revokes what they gave."""

import hashlib
import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from clients.models import Client
from idp.conf import idp_settings
from idp.durability import claim_on_issue, insert_without_waiting
from idp.models import AuthorizationCode, Token
from idp.services.compiled import first_row

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
    """The code, if it is this client's, unexpired and unused, with its user; the claim on
    it (used_at) is made with the tokens it pays for, all or nothing, when the token request
    ends (idp.durability). None otherwise. A second redemption revokes every token issued
    from the code (RFC 6749 §4.1.2): whoever holds it, one of the two parties is an
    attacker - whether the first redemption is long done or won a race a moment ago."""
    if not isinstance(code, str) or not code or len(code) > 512:
        return None
    record = first_row(AuthorizationCode, related=("user",), code_hash=code_hash(code))
    if record is None or record.client_id != client.pk:
        return None
    record.client = client
    if record.used_at is not None:
        authorization_code_replayed(record)
        return None
    now = timezone.now()
    if record.expires_at <= now:
        return None
    claim_on_issue(record, field="used_at", value=now,
                   on_lost=lambda: authorization_code_replayed(record))  # fmt: skip
    return record


@transaction.atomic
def authorization_code_replayed(code: AuthorizationCode) -> int:
    """Revoke everything issued from a code presented again, durably; the count revoked."""
    from accounts.audit import audit
    from idp.services.refresh import refresh_family_revoke

    issued = Token.objects.filter(authorization_code=code)
    for family in set(issued.exclude(family="").values_list("family", flat=True)):
        refresh_family_revoke(family=family, reason="code_replay")
    revoked = issued.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
    audit("authorization_code_replayed", user=code.user, client=code.client,
          tokens_revoked=revoked)  # fmt: skip
    logger.warning(
        "authorization_code_replayed client_id=%s user_id=%s tokens_revoked=%d",
        code.client.client_id,
        code.user_id,
        revoked,
    )
    return revoked
