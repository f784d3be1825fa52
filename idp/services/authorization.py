"""The authorization endpoint's decisions (OIDC Core §3.1.2): is the request valid, must
the user sign in (again), must they consent, or can a code be issued now?

Pending requests are kept server-side in the browser's session (database-backed, so any
node can continue them and a Redis outage loses none) under a random id, so the login page
gets a short `next` URL instead of the whole request.
"""

import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Error
from authlib.oidc.core.errors import ConsentRequiredError, LoginRequiredError

from accounts.mfa import ACR_MFA, ACR_PASSWORD
from clients.models import Client
from idp.conf import idp_settings
from idp.services.consent import consent_covers
from idp.services.keys import TokenInvalid, jwt_verify

RESPONSE_MODES = ("query", "fragment", "form_post")
PROMPTS = {"none", "login", "consent", "select_account"}
MAX_PARAM_LENGTH = 4096
# `acr` we assert: a password alone, or with a second factor (accounts.mfa).
ACR_VALUES_SUPPORTED = [ACR_PASSWORD, ACR_MFA]


class RequestNotSupported(OAuth2Error):
    error = "request_not_supported"


class RequestUriNotSupported(OAuth2Error):
    error = "request_uri_not_supported"


class RegistrationNotSupported(OAuth2Error):
    error = "registration_not_supported"


@dataclass
class PendingRequest:
    rid: str
    params: dict[str, str]
    received_at: int
    consented: bool = False
    stored: bool = False


def pending_new(params: dict[str, str]) -> PendingRequest:
    """A request as it arrives; stored only if the user must sign in or consent first."""
    return PendingRequest(
        rid=secrets.token_urlsafe(24), params=params, received_at=int(time.time())
    )


PENDING_SESSION_KEY = "portcullis_authz"
MAX_PENDING_PER_SESSION = 10


def pending_store(session, pending: PendingRequest) -> None:
    pending.stored = True
    entries = {
        rid: entry
        for rid, entry in session.get(PENDING_SESSION_KEY, {}).items()
        if time.time() - entry["received_at"] < _pending_ttl()
    }
    entries[pending.rid] = {"params": pending.params, "received_at": pending.received_at,
                            "consented": pending.consented}  # fmt: skip
    # Bounded: the oldest requests of a browser are dropped first.
    newest = sorted(entries.items(), key=lambda item: item[1]["received_at"])
    session[PENDING_SESSION_KEY] = dict(newest[-MAX_PENDING_PER_SESSION:])


def _pending_ttl() -> float:
    return idp_settings.AUTHORIZATION_REQUEST_TTL.total_seconds()


def pending_load(session, rid: str | None) -> PendingRequest | None:
    if not rid or not isinstance(rid, str) or len(rid) > 64:
        return None
    data = session.get(PENDING_SESSION_KEY, {}).get(rid)
    if not data or time.time() - data["received_at"] >= _pending_ttl():
        return None
    return PendingRequest(rid=rid, stored=True, **data)


def pending_discard(session, pending: PendingRequest) -> None:
    """A request is answered once: its id cannot be replayed to get a second code."""
    if pending.stored:
        entries = dict(session.get(PENDING_SESSION_KEY, {}))
        if entries.pop(pending.rid, None) is not None:
            session[PENDING_SESSION_KEY] = entries


@dataclass
class Checked:
    """What our own checks learnt from the request, beyond Authlib's validation."""

    response_mode: str
    prompts: set[str]
    max_age: int | None
    claims: dict[str, Any] | None
    hint_subject: str | None
    ui_locales: list[str] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)
    acr_values: list[str] = field(default_factory=list)


# The parameters we act on (OIDC Core §3.1.2.1, RFC 7636, RFC 8707, OAuth 2.0 Form Post);
# anything else is ignored (§3.1.2.1) and never stored with a pending request.
KNOWN_PARAMS = frozenset({
    "response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "response_mode",
    "prompt", "max_age", "code_challenge", "code_challenge_method", "claims", "id_token_hint",
    "login_hint", "ui_locales", "claims_locales", "acr_values", "display", "resource",
    "request", "request_uri", "registration",
})  # fmt: skip
MAX_STORED_SIZE = 16 * 1024
# RFC 6749 §3.1.1: response-type = response-name *( SP response-name ), NQCHAR-ish names.
RESPONSE_TYPE = re.compile(r"^[a-z_]+( [a-z_]+)*$")


def params_collect(querydict) -> dict[str, str]:
    """The known parameters, one value each (RFC 6749 §3.1: parameters MUST NOT repeat)."""
    params = {}
    for key in querydict:
        if key not in KNOWN_PARAMS:
            continue
        values = querydict.getlist(key)
        if len(values) > 1 and key != "resource":
            raise InvalidRequestError(f"The '{key}' parameter must not be repeated.")
        if any(len(v) > MAX_PARAM_LENGTH for v in values):
            raise InvalidRequestError(f"The '{key}' parameter is too long.")
        # RFC 8707 §2: `resource` may repeat; URIs hold no spaces, so one string keeps them.
        params[key] = " ".join(values) if key == "resource" else values[-1]
    if sum(len(v) for v in params.values()) > MAX_STORED_SIZE:
        raise InvalidRequestError("The authorization request is too large.")
    if "response_type" in params and not RESPONSE_TYPE.match(params["response_type"]):
        raise InvalidRequestError("Malformed response_type.")
    return params


def response_mode_of(params: dict[str, str]) -> str:
    mode = params.get("response_mode") or "query"
    return mode if mode in RESPONSE_MODES else "query"


def request_check(params: dict[str, str], *, redirect_uri: str) -> Checked:
    """OIDC Core §3.1.2.1 parameters Authlib leaves to us. Errors carry the redirect URI:
    the client and redirect URI are already known good here."""

    def fail(error: OAuth2Error) -> OAuth2Error:
        error.redirect_uri = redirect_uri
        return error

    mode = params.get("response_mode")
    if mode is not None and mode not in RESPONSE_MODES:
        raise fail(InvalidRequestError("Unsupported response_mode."))
    if "request" in params:
        raise fail(RequestNotSupported("Request objects are not supported."))
    if "request_uri" in params:
        raise fail(RequestUriNotSupported("request_uri is not supported."))
    if "registration" in params:
        raise fail(RegistrationNotSupported("The registration parameter is not supported."))

    prompts = set(params.get("prompt", "").split())
    if "none" in prompts and len(prompts) > 1:
        raise fail(InvalidRequestError("prompt=none cannot be combined with other values."))
    prompts &= PROMPTS  # values we do not understand are ignored (§3.1.2.1)

    max_age = None
    if "max_age" in params:
        raw = params["max_age"]
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 10:
            raise fail(InvalidRequestError("max_age must be a non-negative integer."))
        max_age = int(raw)

    claims = None
    if params.get("claims"):
        try:
            claims = json.loads(params["claims"])
        except (ValueError, RecursionError):
            raise fail(InvalidRequestError("claims is not valid JSON.")) from None
        if not isinstance(claims, dict) or not all(
            isinstance(claims.get(member, {}), dict | type(None))
            for member in ("userinfo", "id_token")
        ):
            raise fail(InvalidRequestError("claims must be a JSON object (OIDC Core 5.5)."))
        claims = {m: claims[m] for m in ("userinfo", "id_token") if isinstance(claims.get(m), dict)}

    hint_subject = None
    if params.get("id_token_hint"):
        try:
            # Our own ID token, possibly expired (§3.1.2.1 allows that); only `sub` is used.
            _, hint = jwt_verify(params["id_token_hint"], typ="JWT")
        except TokenInvalid:
            raise fail(InvalidRequestError("id_token_hint is not an ID token we issued.")) from None
        if hint.get("iss") != idp_settings.ISSUER or not isinstance(hint.get("sub"), str):
            raise fail(InvalidRequestError("id_token_hint is not an ID token we issued."))
        hint_subject = hint["sub"]

    return Checked(
        response_mode=mode or "query",
        prompts=prompts,
        max_age=max_age,
        claims=claims,
        hint_subject=hint_subject,
        ui_locales=params.get("ui_locales", "").split(),
        resources=params.get("resource", "").split(),
        acr_values=params.get("acr_values", "").split(),
    )


def login_required(
    *, user, session_auth_time: int | None, checked: Checked, received_at: int, redirect_uri: str
) -> bool:
    """Must the user (re-)authenticate before this request is answered?

    A sign-in that happened after the request arrived satisfies prompt=login and max_age,
    so a user who just signed in is never sent round the loop again.
    """
    if user is None or session_auth_time is None:
        needed = True
    else:
        fresh = session_auth_time >= received_at
        too_old = checked.max_age is not None and time.time() - session_auth_time > checked.max_age
        needed = (
            ("login" in checked.prompts and not fresh)
            or (too_old and not fresh)
            or (checked.hint_subject is not None and checked.hint_subject != str(user.subject))
        )
    if needed and "none" in checked.prompts:
        raise LoginRequiredError(redirect_uri=redirect_uri)
    return needed


def consent_required(
    *, user, client: Client, scopes: list[str], checked: Checked, pending_consented: bool,
    redirect_uri: str,
) -> bool:  # fmt: skip
    """Must the user be asked to approve? prompt=consent asks again even if remembered."""
    if pending_consented:
        return False
    needed = "consent" in checked.prompts or not consent_covers(
        user=user, client=client, scopes=scopes
    )
    if needed and "none" in checked.prompts:
        raise ConsentRequiredError(redirect_uri=redirect_uri)
    return needed
