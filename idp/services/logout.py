"""Logout: RP-initiated (OpenID Connect RP-Initiated Logout 1.0), back-channel (Back-Channel
Logout 1.0) and front-channel (Front-Channel Logout 1.0)."""

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import SSOSession
from clients.models import Client
from clients.services import client_get_enabled
from idp.conf import idp_settings
from idp.models import LogoutDelivery
from idp.services.keys import TokenInvalid, jwt_sign, jwt_verify

logger = logging.getLogger("portcullis.idp")

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


# --- RP-initiated logout: reading the request ---


@dataclass
class EndSessionRequest:
    client: Client | None
    redirect_uri: str | None  # only ever a registered post_logout_redirect_uri
    state: str
    hint_sid: str | None
    hint_sub: str | None
    hint_valid: bool


def end_session_read(params: dict[str, str]) -> EndSessionRequest:
    """Validate an end-session request (RP-Initiated Logout §2, §3).

    A redirect is allowed only to a post_logout_redirect_uri registered, exactly, for the
    client that a valid id_token_hint (or client_id) names. The hint is checked against our
    keys, retired ones included; an expired hint is fine (§2: the user may come back late).
    """
    hint_claims = None
    if params.get("id_token_hint"):
        try:
            _, hint_claims = jwt_verify(params["id_token_hint"], typ="JWT")
        except TokenInvalid:
            hint_claims = None
        if hint_claims is not None and hint_claims.get("iss") != idp_settings.ISSUER:
            hint_claims = None
    client = None
    hint_aud = None
    if hint_claims is not None:
        aud = hint_claims.get("aud")
        hint_aud = aud[0] if isinstance(aud, list) and len(aud) == 1 else aud
        client = client_get_enabled(hint_aud) if isinstance(hint_aud, str) else None
    if params.get("client_id"):
        named = client_get_enabled(params["client_id"])
        if client is not None and named != client:
            client = None  # the hint and client_id disagree: trust neither
            hint_claims = None
        elif client is None and hint_aud is None:
            client = named
    redirect_uri = params.get("post_logout_redirect_uri") or None
    if redirect_uri is not None and not (
        client is not None and client.check_post_logout_redirect_uri(redirect_uri)
    ):
        redirect_uri = None
    return EndSessionRequest(
        client=client,
        redirect_uri=redirect_uri,
        state=params.get("state", "")[:2048],
        hint_sid=(hint_claims or {}).get("sid"),
        hint_sub=(hint_claims or {}).get("sub"),
        hint_valid=hint_claims is not None,
    )


def end_session_tied(request: EndSessionRequest, session: SSOSession | None) -> bool:
    """Is the request provably from an app of this very sign-in? Then no confirmation is
    needed; otherwise the user confirms (logout CSRF protection)."""
    if session is None or not request.hint_valid:
        return False
    if request.hint_sid:
        return request.hint_sid == session.sid
    return request.hint_sub == str(session.user.subject)


def post_logout_location(request: EndSessionRequest) -> str | None:
    if not request.redirect_uri:
        return None
    if not request.state:
        return request.redirect_uri
    separator = "&" if urlsplit(request.redirect_uri).query else "?"
    return f"{request.redirect_uri}{separator}{urlencode({'state': request.state})}"


# --- front-channel ---


def frontchannel_logout_urls(session: SSOSession) -> list[str]:
    """The iframes the logged-out page renders, one per participating RP (§2, §3)."""
    urls = []
    for client in session.clients.all():
        uri = client.frontchannel_logout_uri
        if not uri:
            continue
        if client.frontchannel_logout_session_required:
            separator = "&" if urlsplit(uri).query else "?"
            uri = f"{uri}{separator}{urlencode({'iss': idp_settings.ISSUER, 'sid': session.sid})}"
        urls.append(uri)
    return urls


# --- back-channel ---


def logout_token_build(*, client: Client, subject: str, sid: str) -> str:
    """Back-Channel Logout §2.4: a signed JWT with `events`, never a nonce."""
    now = int(time.time())
    claims = {
        "iss": idp_settings.ISSUER,
        "aud": client.client_id,
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
        "sub": subject,
        "sid": sid,
        "events": {BACKCHANNEL_EVENT: {}},
    }
    return jwt_sign(claims, alg=client.id_token_signed_response_alg, typ="logout+jwt")


def backchannel_logout_schedule(*, session: SSOSession) -> list[int]:
    """Create a delivery for every participating RP with a back-channel URI, and send them
    after commit, off the request path: a slow or dead RP never delays the user."""
    ids = [
        LogoutDelivery.objects.create(client=client, user=session.user, sid=session.sid).pk
        for client in session.clients.exclude(backchannel_logout_uri="")
    ]
    if ids:
        transaction.on_commit(lambda: backchannel_logout_dispatch(ids))
    return ids


def backchannel_logout_dispatch(delivery_ids: list[int]) -> None:
    from idp.tasks import backchannel_logout_deliver_task

    if settings.CELERY_TASK_ALWAYS_EAGER:
        # No broker (local mode): a background thread stands in for the worker.
        thread = threading.Thread(target=_deliver_with_retries, args=(delivery_ids,), daemon=True)
        thread.start()
        return
    for delivery_id in delivery_ids:
        try:
            backchannel_logout_deliver_task.delay(delivery_id)
        except Exception as exc:  # noqa: BLE001  (broker down: the sweeper resends it)
            logger.warning("backchannel_logout_enqueue_failed delivery_id=%s error=%s",
                           delivery_id, exc)  # fmt: skip


def logout_deliveries_resume(*, older_than_seconds: int = 60) -> int:
    """Re-enqueue pending deliveries that no worker has touched for a while (the broker was
    down when they were created, or a worker died): beat runs this every minute."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    stale = LogoutDelivery.objects.filter(status=LogoutDelivery.Status.PENDING).filter(
        Q(last_attempt_at__isnull=True, created_at__lte=cutoff)
        | Q(last_attempt_at__lte=cutoff - timedelta(seconds=3600))
    )
    ids = list(stale.values_list("pk", flat=True)[:500])
    if ids:
        backchannel_logout_dispatch(ids)
    return len(ids)


def _deliver_with_retries(delivery_ids: list[int]) -> None:
    from django.db import connection

    try:
        pending = list(delivery_ids)
        for attempt in range(idp_settings.BACKCHANNEL_LOGOUT_ATTEMPTS):
            pending = [d for d in pending if not logout_delivery_attempt(delivery_id=d)]
            if not pending:
                return
            time.sleep(backchannel_retry_delay(attempt))
        for delivery_id in pending:
            logout_delivery_give_up(delivery_id=delivery_id)
    finally:
        connection.close()


def backchannel_retry_delay(retries: int) -> float:
    """Exponential backoff: base, 2×base, 4×base … capped at an hour."""
    base = idp_settings.BACKCHANNEL_LOGOUT_RETRY_DELAY.total_seconds()
    return min(base * (2**retries), 3600.0)


def logout_delivery_attempt(*, delivery_id: int) -> bool:
    """POST the logout token once. True when the RP took it (or nothing is owed anymore)."""
    delivery = (
        LogoutDelivery.objects.select_related("client", "user").filter(pk=delivery_id).first()
    )
    if delivery is None or delivery.status != LogoutDelivery.Status.PENDING:
        return True
    client = delivery.client
    if not client.backchannel_logout_uri:
        return True
    token = logout_token_build(client=client, subject=str(delivery.user.subject), sid=delivery.sid)
    error = ""
    try:
        response = requests.post(
            client.backchannel_logout_uri,
            data={"logout_token": token},
            timeout=idp_settings.BACKCHANNEL_LOGOUT_TIMEOUT.total_seconds(),
            allow_redirects=False,
        )
        if response.status_code not in (200, 204):
            error = f"HTTP {response.status_code}: {response.text[:200]}"
    except requests.RequestException as exc:
        error = f"{exc.__class__.__name__}: {str(exc)[:200]}"
    now = timezone.now()
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_error = error
    if not error:
        delivery.status = LogoutDelivery.Status.DELIVERED
        delivery.delivered_at = now
    delivery.save(update_fields=["attempts", "last_attempt_at", "last_error", "status",
                                 "delivered_at"])  # fmt: skip
    log = logger.info if not error else logger.warning
    log(
        "backchannel_logout_%s client_id=%s sid=%s attempt=%d %s",
        "delivered" if not error else "failed",
        client.client_id,
        delivery.sid,
        delivery.attempts,
        error,
    )
    return not error


def logout_delivery_give_up(*, delivery_id: int) -> None:
    LogoutDelivery.objects.filter(pk=delivery_id, status=LogoutDelivery.Status.PENDING).update(
        status=LogoutDelivery.Status.FAILED
    )
    logger.error("backchannel_logout_abandoned delivery_id=%s", delivery_id)
