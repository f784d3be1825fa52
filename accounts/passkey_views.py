"""Passkey (WebAuthn) endpoints: JSON in, JSON out, for static/js/passkeys.js.

Every endpoint is a CSRF-checked POST (the page renders the token for the script, since the
CSRF cookie is HttpOnly). Anything that fails answers 400 {"error": "…"}, whatever the body
held; too many failed sign-ins answer 429. The ceremonies themselves are in accounts.passkeys.
"""

import json
from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from accounts import mfa, passkeys
from accounts.audit import audit
from accounts.passkeys import PasskeyError
from accounts.services import safe_next_path
from accounts.throttle import throttle_check, throttle_failure, throttle_success

# A registration response is a few kilobytes; anything much larger is not one.
MAX_BODY_BYTES = 64 * 1024
THROTTLE_KIND = "passkey"


class _BadBody(Exception):
    pass


def _error(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _json_body(request: HttpRequest) -> dict:
    """The request body as a JSON object, or _BadBody: never a 500 on what a client sends."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError as exc:
        raise _BadBody from exc
    if declared > MAX_BODY_BYTES:
        raise _BadBody
    try:
        body = request.body
    except RequestDataTooBig as exc:
        raise _BadBody from exc
    if len(body) > MAX_BODY_BYTES:
        raise _BadBody
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _BadBody from exc
    if not isinstance(data, dict):
        raise _BadBody
    return data


def _next_of(data: dict) -> str | None:
    value = data.get("next")
    return safe_next_path(value) if isinstance(value, str) else None


def json_endpoint(view: Callable) -> Callable:
    """POST only, CSRF-checked, never cached."""
    return csrf_protect(never_cache(require_http_methods(["POST"])(view)))


def signed_in_json(view: Callable) -> Callable:
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return _error(_("Please sign in first."), status=403)
        if mfa.user_has_mfa(request.user) and "mfa" not in request.session.get(
            "portcullis_amr", []
        ):
            # Adding a factor needs the existing second step first (see second_factor_required).
            return _error(_("Verify your second step first."), status=403)
        return view(request, *args, **kwargs)

    return wrapper


def _throttled(retry_after: int) -> JsonResponse:
    response = _error(_("Too many attempts. Please wait a little and try again."), status=429)
    response["Retry-After"] = str(retry_after)
    return response


def _sign_in_failed(request: HttpRequest, account: str, ip: str, error: PasskeyError):
    throttle_failure(kind=THROTTLE_KIND, account=account, ip=ip)
    audit("passkey_login_failed", request=request, user=error.user, reason=error.reason)
    return _error(error.message)


# --- registration (account page) ---


@json_endpoint
@signed_in_json
def register_options_view(request: HttpRequest) -> HttpResponse:
    return JsonResponse(passkeys.passkey_registration_options(request=request, user=request.user))


@json_endpoint
@signed_in_json
def register_verify_view(request: HttpRequest) -> HttpResponse:
    try:
        data = _json_body(request)
    except _BadBody:
        return _error(_("The request was not understood."))
    try:
        passkey = passkeys.passkey_register(request=request, user=request.user,
                                            credential=data.get("credential"),
                                            name=data.get("name"))  # fmt: skip
    except PasskeyError as error:
        audit("passkey_registration_failed", request=request, user=request.user,
              reason=error.reason)  # fmt: skip
        return _error(error.message)
    messages.success(request, _("Passkey “%(name)s” added.") % {"name": passkey.name})
    return JsonResponse({"redirect": reverse("accounts:account")})


@csrf_protect
@never_cache
@login_required
@require_http_methods(["POST"])
@mfa.second_factor_required
def remove_view(request: HttpRequest, passkey_id: int) -> HttpResponse:
    if passkeys.passkey_remove(request=request, user=request.user, passkey_id=passkey_id):
        messages.success(request, _("The passkey was removed."))
    return redirect("accounts:account")


# --- sign-in: without a password (login page) ---


@json_endpoint
def login_options_view(request: HttpRequest) -> HttpResponse:
    return JsonResponse(
        passkeys.passkey_authentication_options(request=request, purpose=passkeys.LOGIN)
    )


@json_endpoint
def login_verify_view(request: HttpRequest) -> HttpResponse:
    ip = request.META.get("REMOTE_ADDR", "")
    try:
        data = _json_body(request)
    except _BadBody:
        data = None
    credential = data.get("credential") if data is not None else None
    account = passkeys.passkey_claimed_id(credential)
    verdict = throttle_check(kind=THROTTLE_KIND, account=account, ip=ip)
    if not verdict.allowed:
        audit("passkey_login_throttled", request=request)
        return _throttled(verdict.retry_after)
    if data is None:
        passkeys.passkey_challenge_discard(request=request, purpose=passkeys.LOGIN)
        error = PasskeyError(passkeys.NOT_VERIFIED, reason="malformed_body")
        return _sign_in_failed(request, account, ip, error)
    try:
        location = passkeys.passkey_login(request=request, credential=credential,
                                          next_path=_next_of(data))  # fmt: skip
    except PasskeyError as error:
        return _sign_in_failed(request, account, ip, error)
    throttle_success(kind=THROTTLE_KIND, account=account, ip=ip)
    return JsonResponse({"redirect": location})


# --- sign-in: the second step (after the password, or a step-up) ---


@json_endpoint
def mfa_options_view(request: HttpRequest) -> HttpResponse:
    pending = passkeys.passkey_mfa_user(request)
    if pending is None:
        return _error(str(passkeys.EXPIRED))
    user, _first_factor = pending
    return JsonResponse(
        passkeys.passkey_authentication_options(
            request=request, purpose=passkeys.SECOND_FACTOR, user=user
        )
    )


@json_endpoint
def mfa_verify_view(request: HttpRequest) -> HttpResponse:
    ip = request.META.get("REMOTE_ADDR", "")
    pending = passkeys.passkey_mfa_user(request)
    if pending is None:
        return _error(str(passkeys.EXPIRED))
    account = pending[0].email
    verdict = throttle_check(kind=THROTTLE_KIND, account=account, ip=ip)
    if not verdict.allowed:
        audit("passkey_login_throttled", request=request, user=pending[0])
        return _throttled(verdict.retry_after)
    try:
        data = _json_body(request)
    except _BadBody:
        passkeys.passkey_challenge_discard(request=request, purpose=passkeys.SECOND_FACTOR)
        error = PasskeyError(passkeys.NOT_VERIFIED, reason="malformed_body", user=pending[0])
        return _sign_in_failed(request, account, ip, error)
    try:
        location = passkeys.passkey_mfa_complete(request=request,
                                                 credential=data.get("credential"),
                                                 next_path=_next_of(data))  # fmt: skip
    except PasskeyError as error:
        return _sign_in_failed(request, account, ip, error)
    throttle_success(kind=THROTTLE_KIND, account=account, ip=ip)
    return JsonResponse({"redirect": location})
