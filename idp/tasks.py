"""Celery tasks of the authorization server: thin wrappers around services."""

from celery import shared_task

from accounts.sessions import sso_sessions_expire
from idp.conf import idp_settings
from idp.services.keys import signing_key_rotate
from idp.services.logout import (
    backchannel_retry_delay,
    logout_deliveries_resume,
    logout_delivery_attempt,
    logout_delivery_give_up,
)
from idp.services.prune import expired_records_prune


@shared_task(name="rotate_signing_keys", acks_late=True)
def signing_key_rotate_task(force: bool = False) -> list[str]:
    """Do whatever signing-key rotation step is due (idempotent; beat runs it hourly), or,
    with force, promote the next keys now (what `manage.py keys rotate` does)."""
    return signing_key_rotate(force=force)


@shared_task(name="prune_expired_tokens", acks_late=True)
def expired_records_prune_task() -> dict:
    """Delete expired codes and tokens in batches (beat runs it hourly)."""
    return expired_records_prune()


@shared_task(bind=True, name="deliver_backchannel_logout", acks_late=True, max_retries=None)
def backchannel_logout_deliver_task(self, delivery_id: int) -> bool:
    """POST one logout token; retried with exponential backoff until the RP takes it or
    IDP_BACKCHANNEL_LOGOUT_ATTEMPTS run out (the delivery record says which)."""
    if logout_delivery_attempt(delivery_id=delivery_id):
        return True
    if self.request.retries + 1 >= idp_settings.BACKCHANNEL_LOGOUT_ATTEMPTS:
        logout_delivery_give_up(delivery_id=delivery_id)
        return False
    raise self.retry(countdown=backchannel_retry_delay(self.request.retries))


@shared_task(name="resume_logout_deliveries", acks_late=True)
def logout_deliveries_resume_task() -> int:
    """Re-enqueue back-channel logout deliveries stranded by a broker outage."""
    return logout_deliveries_resume()


@shared_task(name="expire_sso_sessions", acks_late=True)
def sso_sessions_expire_task() -> int:
    """End sign-in sessions past their idle or absolute expiry, so their apps are told."""
    return sso_sessions_expire()
