"""Top-level URLs."""

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.urls import include, path, reverse
from django.views.decorators.cache import never_cache
from django.views.generic import RedirectView

from accounts.services import safe_next_path
from accounts.views import home_view
from idp.health import healthz_view, metrics_view, readyz_view


@never_cache
def admin_login(request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
    """The admin signs in through our own login page, so it gets the same protections."""
    next_path = safe_next_path(request.GET.get("next")) or reverse("admin:index")
    return redirect_to_login(next_path, login_url=reverse("accounts:login"))


admin.site.login = admin_login  # type: ignore[method-assign]

admin.site.site_header = "Portcullis administration"
admin.site.site_title = "Portcullis admin"
admin.site.index_title = "Identity provider"

urlpatterns = [
    path("", home_view, name="home"),
    path("", include("accounts.urls")),
    path("", include("clients.urls")),
    path("", include("idp.protocol_urls")),
    path("healthz", healthz_view, name="healthz"),
    path("readyz", readyz_view, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("favicon.ico", RedirectView.as_view(url=f"{settings.STATIC_URL}img/portcullis.svg")),
]

handler500 = "idp.health.server_error_view"
