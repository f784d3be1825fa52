"""Deleting expired protocol records, a batch at a time, so no delete holds long locks."""

import logging
from datetime import datetime, timedelta

from django.db.models import Model, Q, QuerySet
from django.utils import timezone

from idp.models import AuthorizationCode, RefreshToken, Token

logger = logging.getLogger("portcullis.idp")

# Used codes are kept a little past their expiry so a late replay is still recognised.
CODE_GRACE = timedelta(hours=1)


def _delete_in_batches(queryset: QuerySet, model: type[Model], batch_size: int) -> int:
    deleted = 0
    while True:
        ids = list(queryset.values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        deleted += model.objects.filter(pk__in=ids).delete()[0]


def expired_records_prune(*, now: datetime | None = None, batch_size: int = 1000) -> dict:
    """Remove codes, access tokens and refresh tokens that can never be valid again."""
    now = now or timezone.now()
    counts = {
        # Tokens first: they point at codes.
        "access_tokens": _delete_in_batches(
            Token.objects.filter(expires_at__lte=now), Token, batch_size
        ),
        "refresh_tokens": _delete_in_batches(
            RefreshToken.objects.filter(Q(family_expires_at__lte=now) | Q(expires_at__lte=now)),
            RefreshToken,
            batch_size,
        ),
        "authorization_codes": _delete_in_batches(
            AuthorizationCode.objects.filter(expires_at__lte=now - CODE_GRACE),
            AuthorizationCode,
            batch_size,
        ),
    }
    logger.info("expired_records_pruned %s", " ".join(f"{k}={v}" for k, v in counts.items()))
    return counts
