"""Celery tasks of the authorization server: thin wrappers around services."""

from celery import shared_task

from idp.services.keys import signing_key_rotate
from idp.services.prune import expired_records_prune


@shared_task(name="rotate_signing_keys", acks_late=True)
def signing_key_rotate_task() -> list[str]:
    """Do whatever signing-key rotation step is due (idempotent; beat runs it hourly)."""
    return signing_key_rotate()


@shared_task(name="prune_expired_tokens", acks_late=True)
def expired_records_prune_task() -> dict:
    """Delete expired codes and tokens in batches (beat runs it hourly)."""
    return expired_records_prune()
