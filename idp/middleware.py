"""Response headers that every page carries (Django's SecurityMiddleware sets the rest)."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

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
