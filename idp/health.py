"""Liveness (/healthz), readiness (/readyz) and Prometheus metrics (/metrics)."""

import ipaddress
import logging

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from idp.conf import idp_settings

logger = logging.getLogger("portcullis.health")


@never_cache
@require_http_methods(["GET", "HEAD"])
def healthz_view(request: HttpRequest) -> JsonResponse:
    """The process answers. No I/O: a load balancer's liveness probe must not fail because a
    dependency is down (that is what /readyz says)."""
    return JsonResponse({"status": "ok"})


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _check_cache() -> str:
    cache.set("health:probe", "1", timeout=10)
    if cache.get("health:probe") != "1":
        raise RuntimeError("cache did not return what was written")
    return "ok"


def _check_signing_keys() -> str:
    from idp.services.keys import key_ring

    missing = [alg for alg in idp_settings.SIGNING_ALGS if alg not in key_ring().active]
    if missing:
        raise RuntimeError(f"no active key for {', '.join(missing)}")
    return "ok"


@never_cache
@require_http_methods(["GET", "HEAD"])
def readyz_view(request: HttpRequest) -> JsonResponse:
    """Ready to serve: the database answers, Redis too when configured, and every signing
    algorithm has an active key. 503 with the failing check otherwise."""
    checks: dict[str, str] = {}
    probes = [("database", _check_database), ("signing_keys", _check_signing_keys)]
    if settings.REDIS_URL:
        probes.insert(1, ("redis", _check_cache))
    for name, probe in probes:
        try:
            checks[name] = probe()
        except Exception as exc:  # noqa: BLE001  (any failure means "not ready", reported)
            checks[name] = f"error: {exc.__class__.__name__}"
            logger.warning("readiness_check_failed check=%s error=%s", name, exc)
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if ready else "error", "checks": checks},
                        status=200 if ready else 503)  # fmt: skip


def _metrics_allowed(request: HttpRequest) -> bool:
    """With IDP_METRICS_TOKEN set, a matching bearer token; otherwise only scrapers on a
    loopback or private address (metrics name clients and reveal traffic)."""
    token = idp_settings.METRICS_TOKEN
    if token:
        presented = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return constant_time_compare(presented, token)
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return address.is_loopback or address.is_private


@never_cache
@require_http_methods(["GET"])
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _metrics_allowed(request):
        return JsonResponse({"error": "forbidden"}, status=403)
    from django_prometheus.exports import ExportToDjangoView

    from idp.metrics import signing_key_age_update

    signing_key_age_update()
    return ExportToDjangoView(request)


def server_error_view(request: HttpRequest) -> HttpResponse:
    """handler500: a database that is down or restarting is a 503 with Retry-After (a load
    balancer retries elsewhere, a client later), not a 500; anything else is our 500 page."""
    import sys

    from django.db import InterfaceError, OperationalError
    from django.template import loader

    exc = sys.exc_info()[1]
    if isinstance(exc, OperationalError | InterfaceError):
        logger.error("database_unavailable error=%s", exc.__class__.__name__)
        wants_json = request.path.startswith(
            ("/token", "/userinfo", "/introspect", "/revoke", "/register", "/readyz", "/jwks")
        ) or "application/json" in request.headers.get("Accept", "")
        if wants_json:
            response: HttpResponse = JsonResponse(
                {"error": "temporarily_unavailable",
                 "error_description": "The service is briefly unavailable; retry shortly."},
                status=503,
            )  # fmt: skip
        else:
            response = HttpResponse(loader.render_to_string("503.html"), status=503)
        response["Retry-After"] = "5"
        return response
    return HttpResponse(loader.render_to_string("500.html"), status=500)
