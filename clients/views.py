"""HTTP endpoints of the client registry: Dynamic Client Registration (RFC 7591 / 7592)."""

import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from clients.registration import ConfigurationEndpoint, RegistrationEndpoint
from idp.conf import idp_settings


def _error(status: int, error: str, description: str) -> JsonResponse:
    response = JsonResponse({"error": error, "error_description": description}, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _json_object_or_error(request: HttpRequest) -> JsonResponse | None:
    """RFC 7591 §3.1: the body is a JSON object. Anything else is refused before Authlib."""
    content_type = request.content_type or ""
    if content_type != "application/json":
        return _error(400, "invalid_client_metadata", "Send the metadata as application/json.")
    try:
        data = json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return _error(400, "invalid_client_metadata", "The body is not valid UTF-8 JSON.")
    if not isinstance(data, dict):
        return _error(400, "invalid_client_metadata", "The body must be a JSON object.")
    return None


def _disabled() -> JsonResponse:
    return _error(404, "not_found", "Dynamic client registration is not enabled here.")


@csrf_exempt
@require_http_methods(["POST"])
def register_view(request: HttpRequest) -> HttpResponse:
    from idp.server import server

    if not idp_settings.REGISTRATION_ENABLED:
        return _disabled()
    if error := _json_object_or_error(request):
        return error
    return server.create_endpoint_response(RegistrationEndpoint.ENDPOINT_NAME, request)


@csrf_exempt
@require_http_methods(["GET", "PUT", "DELETE"])
def configuration_view(request: HttpRequest, client_id: str) -> HttpResponse:
    from idp.server import server

    if not idp_settings.REGISTRATION_ENABLED:
        return _disabled()
    if request.method == "PUT" and (error := _json_object_or_error(request)):
        return error
    return server.create_endpoint_response(ConfigurationEndpoint.ENDPOINT_NAME, request)
