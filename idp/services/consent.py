"""Consent: what a user allowed an app, remembered per user and client."""

import logging

from django.db import transaction

from clients.models import Client
from idp.models import Consent
from idp.services.compiled import first_row

logger = logging.getLogger("portcullis.idp")


def consent_covers(*, user, client: Client, scopes: list[str]) -> bool:
    """Has the user already allowed at least these scopes for this app?"""
    if client.skip_consent:
        return True
    if user is None or user.pk is None:
        return False
    consent = first_row(Consent, user_id=user.pk, client_id=client.pk)
    return consent is not None and set(scopes) <= set(consent.scopes)


@transaction.atomic
def consent_grant(*, user, client: Client, scopes: list[str]) -> Consent:
    """Remember the user's approval; scopes accumulate across approvals."""
    consent, _ = Consent.objects.select_for_update().get_or_create(user=user, client=client)
    consent.scopes = sorted(set(consent.scopes) | set(scopes))
    consent.save()
    logger.info(
        "consent_given user_id=%s client_id=%s scopes=%s",
        user.pk,
        client.client_id,
        " ".join(consent.scopes),
    )
    return consent


def consent_revoke(*, user, client_id: str) -> bool:
    """Forget what the user allowed the app, and revoke the app's refresh tokens for them."""
    from idp.models import RefreshToken
    from idp.services.refresh import refresh_family_revoke

    deleted, _ = Consent.objects.filter(user=user, client__client_id=client_id).delete()
    families = set(
        RefreshToken.objects.filter(
            user=user, client__client_id=client_id, revoked_at__isnull=True
        ).values_list("family", flat=True)
    )
    for family in families:
        refresh_family_revoke(family=family, reason="consent_revoked")
    return bool(deleted or families)
