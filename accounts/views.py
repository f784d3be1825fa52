"""Sign-in pages: login, logout and the signed-in account page."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from accounts import services
from accounts.forms import LoginForm


def _next_path(request: HttpRequest) -> str | None:
    return services.safe_next_path(request.POST.get("next") or request.GET.get("next"))


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    next_path = _next_path(request)
    if request.method == "POST":
        form = LoginForm(request, data=request.POST)
        if form.is_valid():
            services.user_login(request=request, user=form.get_user(), methods=["pwd"])
            return HttpResponseRedirect(next_path or reverse("accounts:account"))
        services.login_failed_record(request=request)
    else:
        if request.user.is_authenticated and next_path is None:
            return redirect("accounts:account")
        form = LoginForm(request, initial={"email": request.GET.get("login_hint", "")[:254]})
    return render(request, "accounts/login.html", {"form": form, "next": next_path or ""})


@csrf_protect
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def logout_view(request: HttpRequest) -> HttpResponse:
    """GET asks for confirmation; only a POST (CSRF-checked) signs out."""
    if request.method == "POST":
        services.user_logout(request=request)
        messages.success(request, _("You have been signed out."))
        return redirect("accounts:login")
    if not request.user.is_authenticated:
        return redirect("accounts:login")
    return render(request, "accounts/logout.html")


@never_cache
@login_required
@require_http_methods(["GET", "HEAD"])
def account_view(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/account.html", {"user": request.user})


def home_view(request: HttpRequest) -> HttpResponse:
    return redirect("accounts:account" if request.user.is_authenticated else "accounts:login")
