"""Sign-in and sign-out: the rules, kept out of the views."""

import logging
import time

from django.contrib.auth import login, logout
from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

from accounts.backends import USER_BACKEND
from accounts.models import User
from accounts.sessions import SESSION_SID, sso_session_end, sso_session_of, sso_session_start

__all__ = ["SESSION_AUTH_METHODS", "SESSION_AUTH_TIME", "SESSION_SID", "safe_next_path",
           "user_login", "user_logout"]  # fmt: skip

logger = logging.getLogger("portcullis.accounts")

# Session keys written at sign-in; the authorization server reads them for auth_time / amr.
SESSION_AUTH_TIME = "portcullis_auth_time"
SESSION_AUTH_METHODS = "portcullis_amr"


def safe_next_path(value: str | None) -> str | None:
    """Return `value` if it is a path on this site, else None.

    Only same-origin paths are accepted ("/account", "/authorize?…"): an absolute URL, a
    scheme-relative "//host" or "/\\host", or anything with control characters is ignored,
    so `?next=` can never send a user off-site (RFC 9700 §4.11, open redirectors).
    """
    if not value or len(value) > 4096 or not value.startswith("/"):
        return None
    if value.startswith(("//", "/\\")) or any(ord(c) < 0x20 or c == "\x7f" for c in value):
        return None
    if not url_has_allowed_host_and_scheme(value, allowed_hosts=set(), require_https=False):
        return None
    return value


def user_login(*, request: HttpRequest, user: User, methods: list[str]) -> None:
    """Start a signed-in session for `user`.

    Django's login() gives the session a new key (no session fixation) and rotates the CSRF
    token. We also record when and how the user authenticated, for auth_time and amr.
    """
    previous = sso_session_of(request)
    login(request, user, backend=USER_BACKEND)
    # Whatever second step was pending in this browser is over.
    prefixes = ("portcullis_mfa", "portcullis_passkey")
    for key in [k for k in request.session.keys() if k.startswith(prefixes)]:  # noqa: SIM118
        del request.session[key]
    if previous is not None and previous.user_id != user.pk:
        # Another account signed in in this browser: its session is over.
        sso_session_end(session=previous, reason=previous.EndReason.LOGOUT)
    auth_time = int(time.time())
    request.session[SESSION_AUTH_TIME] = auth_time
    request.session[SESSION_AUTH_METHODS] = methods
    if previous is not None and previous.user_id == user.pk and previous.ended_at is None:
        # Re-authentication (prompt=login, max_age) inside a live session keeps its sid.
        previous.auth_time, previous.amr = auth_time, methods
        previous.session_key = request.session.session_key or ""
        previous.save(update_fields=["auth_time", "amr", "session_key"])
    else:
        sso_session_start(request=request, user=user, auth_time=auth_time, amr=methods)
    logger.info("login_succeeded user_id=%s methods=%s", user.pk, ",".join(methods))


def login_failed_record(*, request: HttpRequest) -> None:
    """Log a failed sign-in without the submitted credentials."""
    logger.info("login_failed ip=%s", request.META.get("REMOTE_ADDR", ""))


def user_logout(*, request: HttpRequest, reason: str = "logout"):
    """End the signed-in session; the session data is flushed and its key discarded.
    Returns the ended SSO session (its participating apps are logged out too), if any."""
    user_id = request.user.pk if request.user.is_authenticated else None
    session = sso_session_of(request)
    if session is not None:
        session = sso_session_end(session=session, reason=reason)
    logout(request)
    if user_id is not None:
        logger.info("logout_succeeded user_id=%s", user_id)
    return session
