"""Sign-in and sign-out: the rules, kept out of the views."""

import logging
import secrets
import time

from django.contrib.auth import login, logout
from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

from accounts.models import User

logger = logging.getLogger("portcullis.accounts")

# Session keys written at sign-in; the authorization server reads them for auth_time / amr.
SESSION_AUTH_TIME = "portcullis_auth_time"
SESSION_AUTH_METHODS = "portcullis_amr"
# The `sid` of OIDC session-aware logout: one per sign-in, put in ID tokens.
SESSION_SID = "portcullis_sid"


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
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    request.session[SESSION_AUTH_TIME] = int(time.time())
    request.session[SESSION_AUTH_METHODS] = methods
    request.session[SESSION_SID] = secrets.token_urlsafe(16)
    logger.info("login_succeeded user_id=%s methods=%s", user.pk, ",".join(methods))


def login_failed_record(*, request: HttpRequest) -> None:
    """Log a failed sign-in without the submitted credentials."""
    logger.info("login_failed ip=%s", request.META.get("REMOTE_ADDR", ""))


def user_logout(*, request: HttpRequest) -> None:
    """End the signed-in session; the session data is flushed and its key discarded."""
    user_id = request.user.pk if request.user.is_authenticated else None
    logout(request)
    if user_id is not None:
        logger.info("logout_succeeded user_id=%s", user_id)
