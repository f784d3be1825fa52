"""Celery tasks of the authorization server: thin wrappers around services."""

from celery import shared_task

from idp.services.keys import signing_key_rotate


@shared_task(name="rotate_signing_keys", acks_late=True)
def signing_key_rotate_task() -> list[str]:
    """Do whatever signing-key rotation step is due (idempotent; beat runs it hourly)."""
    return signing_key_rotate()
