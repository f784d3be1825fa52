"""Response headers that every page carries (Django's SecurityMiddleware sets the rest)."""

import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from idp.logging import request_id_var

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")

# No inline script anywhere, no third-party origin, and no framing (clickjacking): our pages
# load only their own static files. A view that needs more (the form_post response page)
# sets its own, narrower-purpose policy and this one is left alone.
#
# No form-action: browsers apply it to every redirect that follows a form submission, and
# our login and consent forms legitimately end in a redirect to whichever RP asked. The
# form_post page, whose target is known exactly, does set it.
DEFAULT_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: https:",
        "font-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)


class SecurityHeadersMiddleware:
    """Adds Content-Security-Policy and a Permissions-Policy to every response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", DEFAULT_CSP)
        response.headers.setdefault(
            "Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"
        )
        return response


class RejectNulMiddleware:
    """NUL characters have no business in a URL or a form, and PostgreSQL text columns refuse
    them (a 500 deep in the ORM): such a request is a 400 before anything reads it."""

    FORM_TYPES = ("application/x-www-form-urlencoded", "application/json")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        query = request.META.get("QUERY_STRING", "")
        suspicious = "\x00" in request.path or "%00" in query or "\x00" in query
        if not suspicious and request.content_type in self.FORM_TYPES:
            try:
                body = request.body
            except Exception:  # noqa: BLE001  (too large: Django answers that later)
                body = b""
            lowered = body.lower()
            suspicious = b"\x00" in body or b"%00" in lowered or b"\\u0000" in lowered
        if suspicious:
            response = JsonResponse(
                {"error": "invalid_request", "error_description": "NUL characters are refused."},
                status=400,
            )
            response["Cache-Control"] = "no-store"
            return response
        return self.get_response(request)


class RequestIdMiddleware:
    """Every request gets an id, in the logs and the X-Request-ID response header; a proxy's
    X-Request-ID is kept if it looks like one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response
