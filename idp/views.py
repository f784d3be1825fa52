"""Protocol endpoints of the authorization server (thin: parse, call a service, respond)."""

import base64
import time
from urllib.parse import urlencode, urlsplit

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749 import (
    AccessDeniedError,
    InvalidGrantError,
    InvalidRequestError,
    OAuth2Error,
)
from authlib.oidc.core.errors import InteractionRequiredError
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseNotModified,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods

from accounts.audit import audit
from accounts.claims import claims_request_limit, user_claims
from accounts.mfa import acr_for, mfa_required_for
from accounts.models import SSOSession
from accounts.services import SESSION_AUTH_METHODS, SESSION_AUTH_TIME, SESSION_SID, user_logout
from accounts.sessions import sso_session_add_client, sso_session_of
from accounts.views import logged_out_response
from idp.conf import idp_settings
from idp.durability import issuing
from idp.server import AuthorizationRequest, server
from idp.services import authorization as authz
from idp.services import logout
from idp.services.consent import consent_grant
from idp.services.discovery import discovery_body
from idp.services.keys import key_ring
from idp.services.tokens import access_token_lookup, resources_resolve

SCOPE_DESCRIPTIONS = {
    "openid": "Know who you are (a stable identifier for your account)",
    "profile": "See your name and profile details",
    "email": "See your email address",
    "address": "See your postal address",
    "phone": "See your phone number",
    "offline_access": "Stay connected while you are away (refresh tokens)",
}


def _public_cache_control() -> str:
    # RPs may cache our keys, but never past the pre-publication window: a cached copy must
    # still contain the next key when it starts signing.
    max_age = min(idp_settings.JWKS_MAX_AGE, idp_settings.KEY_PREPUBLISH_PERIOD)
    return f"public, max-age={int(max_age.total_seconds())}"


def _cors(response: HttpResponse) -> HttpResponse:
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_http_methods(["GET", "HEAD"])
def jwks_view(request: HttpRequest) -> HttpResponse:
    """The JSON Web Key Set (RFC 7517 §5): public halves of next, active and retired keys."""
    ring = key_ring()
    if request.headers.get("If-None-Match") == ring.etag:
        response: HttpResponse = HttpResponseNotModified()
    else:
        response = HttpResponse(ring.jwks_body, content_type="application/json")
    response["Cache-Control"] = _public_cache_control()
    response["ETag"] = ring.etag
    return _cors(response)


@require_http_methods(["GET", "HEAD"])
def discovery_view(request: HttpRequest) -> HttpResponse:
    """OIDC Discovery §4 and RFC 8414 §3: the same document at both well-known paths."""
    response = HttpResponse(discovery_body(), content_type="application/json")
    response["Cache-Control"] = _public_cache_control()
    return _cors(response)


# --- authorization endpoint ---


def _error_page(request: HttpRequest, error: OAuth2Error, status: int = 400) -> HttpResponse:
    """Errors we must not redirect for (unknown client, unregistered redirect URI): shown here,
    never sent to a URI we could not verify (RFC 6749 §4.1.2.1)."""
    return render(
        request,
        "idp/error.html",
        {"error": error.error, "description": error.description or ""},
        status=status,
    )


def _respond(
    request: HttpRequest, redirect_uri: str, params: list[tuple[str, str]], mode: str
) -> HttpResponse:
    """The authorization response in the requested mode, always with `iss` (RFC 9207)."""
    params = [(k, v) for k, v in params if v] + [("iss", idp_settings.ISSUER)]
    if mode == "form_post":
        target = urlsplit(redirect_uri)
        response = render(request, "idp/form_post.html", {"action": redirect_uri,
                                                          "params": params})  # fmt: skip
        # OAuth 2.0 Form Post Response Mode: the page may submit to the RP and nowhere else.
        response["Content-Security-Policy"] = (
            "default-src 'none'; script-src 'self'; style-src 'self'; "
            f"form-action {target.scheme}://{target.netloc}; frame-ancestors 'none'; "
            "base-uri 'none'"
        )
        response["Cache-Control"] = "no-store"
        return response
    location = add_params_to_uri(redirect_uri, params, fragment=(mode == "fragment"))
    response = HttpResponseRedirect(location)
    response["Cache-Control"] = "no-store"
    return response


def _error_response(
    request: HttpRequest, error: OAuth2Error, params: dict[str, str]
) -> HttpResponse:
    if not error.redirect_uri:
        return _error_page(request, error)
    fields = [("error", error.error), ("error_description", error.description or ""),
              ("state", params.get("state", ""))]  # fmt: skip
    return _respond(request, error.redirect_uri, fields, authz.response_mode_of(params))


def _authorize(
    request: HttpRequest, pending: authz.PendingRequest, decision: str | None = None
) -> HttpResponse:
    """One pass over an authorization request: answer it, or send the user to sign in or
    to consent and come back here (`/authorize/continue?request=<id>`)."""
    params = pending.params
    user = request.user if request.user.is_authenticated else None
    oauth_request = AuthorizationRequest(params)
    try:
        grant = server.get_consent_grant(oauth_request, end_user=user)
        redirect_uri = grant.redirect_uri
        if "openid" in (params.get("scope") or "").split() and not params.get("redirect_uri"):
            # OIDC Core §3.1.2.1: REQUIRED for OpenID requests, even with one registered.
            raise InvalidRequestError("Missing 'redirect_uri' in request.")
        checked = authz.request_check(params, redirect_uri=redirect_uri)
        try:
            resources = resources_resolve(client=grant.client, requested=checked.resources)
        except OAuth2Error as error:
            error.redirect_uri = redirect_uri
            raise
        if checked.ui_locales:
            supported = [
                code for code in checked.ui_locales if translation.check_for_language(code)
            ]
            if supported:
                translation.activate(supported[0])
        if authz.login_required(
            user=user,
            session_auth_time=request.session.get(SESSION_AUTH_TIME),
            checked=checked,
            received_at=pending.received_at,
            redirect_uri=redirect_uri,
        ):
            authz.pending_store(request.session, pending)
            query = {"next": f"{reverse('idp:authorize_continue')}?request={pending.rid}"}
            if params.get("login_hint"):
                query["login_hint"] = params["login_hint"]
            return HttpResponseRedirect(f"{reverse('accounts:login')}?{urlencode(query)}")

        client = grant.client
        amr = request.session.get(SESSION_AUTH_METHODS) or ["pwd"]
        if "mfa" not in amr and mfa_required_for(
            client=client, acr_values=checked.acr_values, claims=checked.claims
        ):
            # Step-up (OIDC Core §3.1.2.1 acr_values): a second factor within this session.
            if "none" in checked.prompts:
                raise InteractionRequiredError(redirect_uri=redirect_uri)
            authz.pending_store(request.session, pending)
            next_path = f"{reverse('idp:authorize_continue')}?request={pending.rid}"
            return HttpResponseRedirect(
                f"{reverse('accounts:mfa')}?{urlencode({'next': next_path})}"
            )
        scopes = (oauth_request.scope or "").split()
        if decision == "deny":
            audit("consent_denied", request=request, user=user, client=client)
            raise AccessDeniedError("The user denied the request.", redirect_uri=redirect_uri)
        if decision == "approve":
            consent_grant(user=user, client=client, scopes=scopes)
            audit("consent_given", request=request, user=user, client=client, scopes=scopes)
            pending.consented = True
        if authz.consent_required(
            user=user, client=client, scopes=scopes, checked=checked,
            pending_consented=pending.consented, redirect_uri=redirect_uri,
        ):  # fmt: skip
            authz.pending_store(request.session, pending)
            return render(
                request,
                "idp/consent.html",
                {
                    "client": client,
                    "rid": pending.rid,
                    "scopes": [(s, SCOPE_DESCRIPTIONS.get(s, s)) for s in scopes],
                    "user": user,
                },
            )

        oauth_request.portcullis = {
            "auth_time": request.session.get(SESSION_AUTH_TIME) or int(time.time()),
            "amr": amr,
            "acr": acr_for(amr),
            "sid": request.session.get(SESSION_SID, ""),
            # Only the claims the granted scopes cover (§5.5 does not widen consent).
            "claims": claims_request_limit(checked.claims, scopes),
            "resources": resources,
        }
        code = grant.create_authorization_response(redirect_uri, user)
        sso_session_add_client(sid=oauth_request.portcullis["sid"], client=client,
                               session=getattr(request, "sso_session", None))  # fmt: skip
    except OAuth2Error as error:
        authz.pending_discard(request.session, pending)
        return _error_response(request, error, params)
    authz.pending_discard(request.session, pending)
    fields = [("code", code), ("state", params.get("state", ""))]
    return _respond(request, redirect_uri, fields, checked.response_mode)


@csrf_exempt  # RPs may POST authorization requests (OIDC Core §3.1.2.1); nothing is changed
@never_cache
@require_http_methods(["GET", "POST"])
def authorize_view(request: HttpRequest) -> HttpResponse:
    source = request.POST if request.method == "POST" else request.GET
    try:
        params = authz.params_collect(source)
    except OAuth2Error as error:
        return _error_page(request, error)
    return _authorize(request, authz.pending_new(params))


@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def authorize_continue_view(request: HttpRequest) -> HttpResponse:
    """Back from the login page (GET) or the consent form (POST, CSRF-checked)."""
    pending = authz.pending_load(
        request.session, request.GET.get("request") or request.POST.get("request")
    )
    if pending is None:
        return render(request, "idp/error.html", {"error": "expired", "description": (
            "This sign-in request has expired or was already used. Go back to the app and "
            "start again.")}, status=400)  # fmt: skip
    decision = request.POST.get("decision") if request.method == "POST" else None
    if decision not in (None, "approve", "deny"):
        decision = None
    return _authorize(request, pending, decision)


# --- token endpoint ---


def _invalid_request(description: str) -> JsonResponse:
    """RFC 6749 §5.2 error JSON, never cached."""
    response = JsonResponse({"error": "invalid_request", "error_description": description},
                            status=400)  # fmt: skip
    response["Cache-Control"] = "no-store"
    return _cors(response)


def _basic_credentials_decodable(header: str) -> bool:
    """RFC 7617 credentials must be base64 of UTF-8 text (Authlib would crash on others)."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return True
    try:
        base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return False
    return True


def _form_error(request: HttpRequest) -> JsonResponse | None:
    """Refuse a body Django will not parse (too large, too many fields) as JSON, not HTML."""
    try:
        request.POST  # noqa: B018  (parses the body)
    except (RequestDataTooBig, TooManyFieldsSent):
        return _invalid_request("The request body is too large.")
    return None


@csrf_exempt
@require_http_methods(["POST"])
def token_view(request: HttpRequest) -> HttpResponse:
    """RFC 6749 §3.2: form-encoded POST; errors are §5.2 JSON with Cache-Control no-store."""
    if error := _token_endpoint_precheck(request):
        return error
    if request.POST.get("grant_type") == "client_credentials":
        # Nothing to serialise: a self-contained JWT is written nowhere, an opaque token is
        # one INSERT. No transaction, so no database round trip at all for the JWT.
        return _cors(server.create_token_response(request))
    # What the request redeems and what it issues are written together, in one statement at
    # the end (idp.durability): a redemption that lost a race writes nothing, and its
    # response (built before the race was decided) is replaced by the error.
    with issuing() as issued:
        response = server.create_token_response(request)
    if issued.claim_lost:
        error = InvalidGrantError("The authorization code or refresh token was already used.")
        response = server.handle_error_response(request, error)
    return _cors(response)


def _token_endpoint_precheck(request: HttpRequest) -> JsonResponse | None:
    """What every client-authenticated POST endpoint refuses before Authlib sees it."""
    if request.META.get("QUERY_STRING"):
        # RFC 6749 §3.2: parameters go in the body; Authlib would merge the query string in.
        return _invalid_request("Send the parameters in the request body, not the URL.")
    if not _basic_credentials_decodable(request.headers.get("Authorization", "")):
        response = JsonResponse(
            {"error": "invalid_client", "error_description": "Malformed Basic credentials."},
            status=401,
        )
        response["WWW-Authenticate"] = 'Basic realm="portcullis"'
        response["Cache-Control"] = "no-store"
        return response
    if request.content_type != "application/x-www-form-urlencoded":
        return _invalid_request("Send the request as application/x-www-form-urlencoded.")
    if error := _form_error(request):
        return error
    for key in request.POST:
        if key != "resource" and len(request.POST.getlist(key)) > 1:
            return _invalid_request(f"The '{key}' parameter must not be repeated.")
    return None


@csrf_exempt
@require_http_methods(["POST"])
def revocation_view(request: HttpRequest) -> HttpResponse:
    """RFC 7009 §2: the client revokes a token it holds; unknown tokens are a 200 too."""
    if error := _token_endpoint_precheck(request):
        return error
    return _cors(server.create_endpoint_response("revocation", request))


@csrf_exempt
@require_http_methods(["POST"])
def introspection_view(request: HttpRequest) -> HttpResponse:
    """RFC 7662 §2: resource servers ask whether a token is active and what it allows."""
    if error := _token_endpoint_precheck(request):
        return error
    response = server.create_endpoint_response("introspection", request)
    response["Cache-Control"] = "no-store"
    return response


# --- userinfo endpoint ---


def _bearer_error(status: int, error: str | None = None, description: str = "") -> JsonResponse:
    """RFC 6750 §3: the challenge names the error; a request with no token gets none."""
    challenge = 'Bearer realm="portcullis"'
    body = {}
    if error:
        challenge += f', error="{error}"'
        body = {"error": error}
        if description:
            challenge += f', error_description="{description}"'
            body["error_description"] = description
    response = JsonResponse(body, status=status)
    response["WWW-Authenticate"] = challenge
    response["Cache-Control"] = "no-store"
    return _cors(response)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def userinfo_view(request: HttpRequest) -> HttpResponse:
    """OIDC Core §5.3: claims about the user the access token was issued for."""
    if request.method == "POST" and (error := _form_error(request)):
        return error
    header = request.headers.get("Authorization", "")
    body_token = request.POST.get("access_token") if request.method == "POST" else None
    scheme, _, header_token = header.partition(" ")
    if header and scheme.lower() != "bearer":
        header_token = ""
    if header_token and body_token:
        return _bearer_error(400, "invalid_request", "Send the token in one place only.")
    token = (header_token or body_token or "").strip()
    if not token:
        return _bearer_error(401)
    record = access_token_lookup(token)
    if record is None or record.user is None:
        return _bearer_error(401, "invalid_token", "The access token is invalid or expired.")
    scopes = record.scope.split()
    if "openid" not in scopes:
        return _bearer_error(403, "insufficient_scope", "The token was not issued for openid.")
    requested = (record.claims or {}).get("userinfo") or {}
    response = JsonResponse(user_claims(record.user, scopes=scopes, requested=requested))
    response["Cache-Control"] = "no-store"
    return _cors(response)


# --- RP-initiated logout ---

END_SESSION_PENDING = "portcullis_end_session"


@csrf_exempt  # RPs send users here by GET or POST (RP-Initiated Logout §2)
@never_cache
@require_http_methods(["GET", "POST"])
def end_session_view(request: HttpRequest) -> HttpResponse:
    source = request.POST if request.method == "POST" else request.GET
    params = {key: source.get(key, "")[:8192] for key in source}
    ask = logout.end_session_read(params)
    session = sso_session_of(request) if request.user.is_authenticated else None
    location = logout.post_logout_location(ask)
    if not request.user.is_authenticated:
        return logged_out_response(request, ended=None, location=location)
    if logout.end_session_tied(ask, session):
        ended = user_logout(request=request, reason=SSOSession.EndReason.RP_LOGOUT)
        return logged_out_response(request, ended=ended, location=location)
    # Not provably from this sign-in (no, a forged, or another session's id_token_hint):
    # the user decides, so a third-party page cannot sign anyone out (logout CSRF).
    request.session[END_SESSION_PENDING] = {"location": location}
    return render(
        request,
        "idp/end_session_confirm.html",
        {"client": ask.client if ask.redirect_uri else None, "user": request.user},
    )


@csrf_protect
@never_cache
@require_http_methods(["POST"])
def end_session_confirm_view(request: HttpRequest) -> HttpResponse:
    pending = request.session.pop(END_SESSION_PENDING, None) or {}
    if request.POST.get("decision") != "logout":
        return HttpResponseRedirect(reverse("accounts:account"))
    ended = user_logout(request=request, reason=SSOSession.EndReason.RP_LOGOUT)
    return logged_out_response(request, ended=ended, location=pending.get("location"))
