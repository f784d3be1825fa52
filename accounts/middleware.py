"""Keeps the browser session in step with its single sign-on session."""

from collections.abc import Callable

from django.contrib.auth import BACKEND_SESSION_KEY, logout
from django.http import HttpRequest, HttpResponse

from accounts.backends import MODEL_BACKEND, USER_BACKEND, user_known
from accounts.models import SSOSession
from accounts.sessions import (
    SESSION_SID,
    sso_session_end,
    sso_session_is_live,
    sso_session_touch,
)
from idp.services.compiled import first_row


class SSOSessionMiddleware:
    """A browser whose sign-in session has ended (signed out elsewhere, ended by the user
    or an administrator) or expired (idle or absolute) is signed out here too."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.sso_session = None  # the live sign-in session, for the views that need it
        if request.session.get(BACKEND_SESSION_KEY) == MODEL_BACKEND:
            # Signed in before accounts.backends.UserBackend: the same backend, renamed.
            request.session[BACKEND_SESSION_KEY] = USER_BACKEND
        # The sign-in session and its user in one lookup: AuthenticationMiddleware's user
        # (evaluated here first) comes from it, after Django's usual checks.
        sid = request.session.get(SESSION_SID)
        session = first_row(SSOSession, related=("user",), sid=sid) if sid else None
        with user_known(session.user if session is not None else None):
            authenticated = request.user.is_authenticated
        if authenticated:
            if session is None and sid:
                logout(request)  # its sign-in session record is gone: so is the sign-in
            elif session is not None:
                if sso_session_is_live(session):
                    sso_session_touch(session)
                    request.sso_session = session
                else:
                    if session.ended_at is None:
                        sso_session_end(session=session, reason=SSOSession.EndReason.EXPIRED)
                    logout(request)
        return self.get_response(request)
