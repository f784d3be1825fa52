"""The audit log: every security-relevant action, as a row and as a structured log line."""

import json
import logging
from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from accounts.models import AuditEvent

logger = logging.getLogger("portcullis.audit")


def audit(
    event: str,
    *,
    request: HttpRequest | None = None,
    user=None,
    actor=None,
    client=None,
    **details: Any,
) -> AuditEvent:
    """Record `event` (a past-tense snake_case verb: login_failed, client_created …).

    `user` is whom it concerns, `actor` who did it (defaults to the signed-in user of the
    request). Never pass secrets, tokens or passwords in `details`.
    """
    ip = user_agent = None
    if request is not None:
        ip = request.META.get("REMOTE_ADDR") or None
        user_agent = request.headers.get("User-Agent", "")[:300]
        if actor is None and getattr(request, "user", None) is not None:
            actor = request.user if request.user.is_authenticated else None
    client_id = getattr(client, "client_id", client) or ""
    record = AuditEvent.objects.create(
        at=timezone.now(),
        event=event,
        actor=actor,
        user=user if user is not None else actor,
        ip_address=ip,
        user_agent=user_agent or "",
        client_id=client_id,
        details=details,
    )
    if event.startswith("login_"):
        from idp.metrics import logins

        logins.labels(outcome=event.removeprefix("login_")).inc()
    logger.info(
        json.dumps(
            {"event": event, "user_id": getattr(record.user, "pk", None),
             "actor_id": getattr(actor, "pk", None), "ip": ip, "client_id": client_id,
             **details},
            default=str,
        )
    )  # fmt: skip
    return record


def audit_events_prune(*, older_than) -> int:
    """Delete events older than the retention period (the one sanctioned deletion)."""
    cutoff = timezone.now() - older_than
    deleted, _ = AuditEvent.objects.filter(at__lt=cutoff).delete()
    return deleted
