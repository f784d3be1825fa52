"""Single sign-on sessions: started at sign-in, kept alive by activity, ended by sign-out
(here, from an app, everywhere, by an administrator) or expiry — and every app that received
tokens in a session is told when it ends (idp.services.logout)."""

import logging
import secrets
from importlib import import_module

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import SSOSession, User
from idp.conf import idp_settings
from idp.services.compiled import first_row, insert_row, update_rows

logger = logging.getLogger("portcullis.accounts")

SESSION_SID = "portcullis_sid"
# Activity is recorded at most this often, so that browsing costs no write per request.
TOUCH_INTERVAL_SECONDS = 60
# (sid, client_id) pairs this process has linked: the next authorization of the same app in
# the same sign-in session skips the INSERT. Both are random and never reused, and a session
# loses its links only by being deleted, so a remembered pair stays true.
_linked: set[tuple[str, str]] = set()
_LINKED_MAX = 50_000


def _client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def sso_session_start(*, request: HttpRequest, user: User, auth_time: int,
                      amr: list[str]) -> SSOSession:  # fmt: skip
    """Record a new sign-in; its sid goes into the browser session and every ID token."""
    now = timezone.now()
    session = SSOSession.objects.create(
        sid=secrets.token_urlsafe(16),
        user=user,
        session_key=request.session.session_key or "",
        auth_time=auth_time,
        amr=amr,
        user_agent=request.headers.get("User-Agent", "")[:300],
        ip_address=_client_ip(request),
        created_at=now,
        last_seen_at=now,
        expires_at=now + idp_settings.SSO_SESSION_TTL,
    )
    request.session[SESSION_SID] = session.sid
    return session


def sso_session_of(request: HttpRequest) -> SSOSession | None:
    sid = request.session.get(SESSION_SID) if hasattr(request, "session") else None
    if not sid:
        return None
    return first_row(SSOSession, sid=sid)


def sso_session_is_live(session: SSOSession, *, now=None) -> bool:
    now = now or timezone.now()
    return (
        session.ended_at is None
        and now < session.expires_at
        and now - session.last_seen_at < idp_settings.SSO_SESSION_IDLE_TTL
    )


def sso_session_touch(session: SSOSession, *, now=None) -> None:
    now = now or timezone.now()
    if (now - session.last_seen_at).total_seconds() >= TOUCH_INTERVAL_SECONDS:
        update_rows(SSOSession, values={"last_seen_at": now}, pk=session.pk)


def sso_session_add_client(*, sid: str, client, session: SSOSession | None = None) -> None:
    """Remember that `client` received tokens in this session (to be told at logout).
    `session` is the request's own, if already loaded (SSOSessionMiddleware)."""
    if not sid:
        return
    if session is None or session.sid != sid or session.ended_at is not None:
        session = first_row(SSOSession, {"ended_at__isnull": True}, sid=sid)
    if session is None:
        return
    pair = (session.sid, client.client_id)
    if pair in _linked:
        return  # this process linked them already: links are never removed from a session
    # One INSERT ... ON CONFLICT DO NOTHING (the pair is unique), instead of add()'s SELECT
    # of the existing links first: the app is usually linked already.
    link = SSOSession.clients.through
    insert_row(link(ssosession_id=session.pk, client_id=client.pk), ignore_conflicts=True)
    if len(_linked) >= _LINKED_MAX:
        _linked.clear()
    transaction.on_commit(lambda: _linked.add(pair))  # at once, outside a transaction


def _delete_browser_session(session_key: str) -> None:
    if session_key:
        store = import_module(settings.SESSION_ENGINE).SessionStore
        store(session_key).delete()


@transaction.atomic
def sso_session_end(*, session: SSOSession, reason: str) -> SSOSession:
    """End a sign-in session: its browser session is deleted, its refresh tokens revoked
    (where the client asks for that), and every participating RP is sent a back-channel
    logout token once this commits. Idempotent."""
    from idp.services.logout import backchannel_logout_schedule
    from idp.services.refresh import refresh_tokens_revoke_for_session

    locked = SSOSession.objects.select_for_update().get(pk=session.pk)
    if locked.ended_at is not None:
        return locked
    locked.ended_at = timezone.now()
    locked.end_reason = reason
    locked.save(update_fields=["ended_at", "end_reason"])
    _delete_browser_session(locked.session_key)
    refresh_tokens_revoke_for_session(sid=locked.sid)
    backchannel_logout_schedule(session=locked)
    logger.info("sso_session_ended user_id=%s sid=%s reason=%s", locked.user_id, locked.sid, reason)
    from accounts.audit import audit

    audit("session_ended", user=locked.user, reason=reason, sid=locked.sid)
    return locked


def sso_sessions_end_for_user(*, user: User, reason: str, keep_sid: str | None = None) -> int:
    """End every live session of a user (sign out everywhere; an administrator's action)."""
    sessions = SSOSession.objects.filter(user=user, ended_at__isnull=True)
    if keep_sid:
        sessions = sessions.exclude(sid=keep_sid)
    count = 0
    for session in sessions:
        sso_session_end(session=session, reason=reason)
        count += 1
    return count


def sso_sessions_active(*, user: User) -> list[SSOSession]:
    now = timezone.now()
    return [
        s
        for s in SSOSession.objects.filter(user=user, ended_at__isnull=True).prefetch_related(
            "clients"
        )
        if sso_session_is_live(s, now=now)
    ]


def sso_sessions_expire(*, now=None, batch_size: int = 500) -> int:
    """End sessions past their absolute or idle expiry, so their RPs hear of it."""
    now = now or timezone.now()
    idle_cutoff = now - idp_settings.SSO_SESSION_IDLE_TTL
    expired = SSOSession.objects.filter(ended_at__isnull=True).filter(
        Q(expires_at__lte=now) | Q(last_seen_at__lte=idle_cutoff)
    )[:batch_size]
    count = 0
    for session in expired:
        sso_session_end(session=session, reason=SSOSession.EndReason.EXPIRED)
        count += 1
    return count
