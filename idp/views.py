"""Protocol endpoints of the authorization server (thin: parse, call a service, respond)."""

from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.views.decorators.http import require_http_methods

from idp.conf import idp_settings
from idp.services.keys import key_ring


def _public_cache_control() -> str:
    # RPs may cache our keys, but never past the pre-publication window: a cached copy must
    # still contain the next key when it starts signing.
    max_age = min(idp_settings.JWKS_MAX_AGE, idp_settings.KEY_PREPUBLISH_PERIOD)
    return f"public, max-age={int(max_age.total_seconds())}"


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
    response["Access-Control-Allow-Origin"] = "*"
    return response
