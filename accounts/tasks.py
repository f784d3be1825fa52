"""Celery tasks of accounts: thin wrappers around services."""

from celery import shared_task

from accounts.audit import audit_events_prune
from idp.conf import idp_settings


@shared_task(name="prune_audit_events", acks_late=True)
def audit_events_prune_task() -> int:
    """Delete audit events older than IDP_AUDIT_RETENTION (beat runs it daily)."""
    return audit_events_prune(older_than=idp_settings.AUDIT_RETENTION)
