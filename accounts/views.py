"""Sign-in pages: login, logout and the signed-in account page."""

from urllib.parse import urlsplit

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
from accounts.models import SSOSession
from accounts.sessions import sso_session_end, sso_sessions_active, sso_sessions_end_for_user
from idp.middleware import DEFAULT_CSP
from idp.services.logout import frontchannel_logout_urls


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


def logged_out_response(
    request: HttpRequest, *, ended: SSOSession | None, location: str | None
) -> HttpResponse:
    """After a sign-out: load each participating app's front-channel logout URI in an
    iframe (Front-Channel Logout 1.0 §3), then continue to `location` (a registered
    post-logout redirect URI) if there is one. Without iframes to show, redirect at once."""
    frames = frontchannel_logout_urls(ended) if ended is not None else []
    if location and not frames:
        return HttpResponseRedirect(location)
    response = render(request, "accounts/logged_out.html", {"frames": frames,
                                                             "location": location})  # fmt: skip
    if frames:
        origins = sorted({f"{urlsplit(f).scheme}://{urlsplit(f).netloc}" for f in frames})
        response["Content-Security-Policy"] = f"{DEFAULT_CSP}; frame-src {' '.join(origins)}"
    return response


@csrf_protect
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def logout_view(request: HttpRequest) -> HttpResponse:
    """GET asks for confirmation; only a POST (CSRF-checked) signs out."""
    if request.method == "POST":
        ended = services.user_logout(request=request)
        return logged_out_response(request, ended=ended, location=None)
    if not request.user.is_authenticated:
        return redirect("accounts:login")
    return render(request, "accounts/logout.html")


@never_cache
@login_required
@require_http_methods(["GET", "HEAD"])
def account_view(request: HttpRequest) -> HttpResponse:
    current = request.session.get(services.SESSION_SID)
    return render(
        request,
        "accounts/account.html",
        {"user": request.user, "sessions": sso_sessions_active(user=request.user),
         "current_sid": current},
    )  # fmt: skip


@csrf_protect
@never_cache
@login_required
@require_http_methods(["POST"])
def session_end_view(request: HttpRequest, sid: str) -> HttpResponse:
    """Sign one of your own sessions out (a lost phone, a shared computer)."""
    session = SSOSession.objects.filter(sid=sid, user=request.user).first()
    if session is None:
        return redirect("accounts:account")
    if sid == request.session.get(services.SESSION_SID):
        ended = services.user_logout(request=request, reason=SSOSession.EndReason.USER_ENDED)
        return logged_out_response(request, ended=ended, location=None)
    sso_session_end(session=session, reason=SSOSession.EndReason.USER_ENDED)
    messages.success(request, _("That session has been signed out."))
    return redirect("accounts:account")


@csrf_protect
@never_cache
@login_required
@require_http_methods(["POST"])
def sessions_end_all_view(request: HttpRequest) -> HttpResponse:
    """Sign out everywhere, this browser included."""
    sso_sessions_end_for_user(
        user=request.user, reason=SSOSession.EndReason.EVERYWHERE,
        keep_sid=request.session.get(services.SESSION_SID),
    )  # fmt: skip
    ended = services.user_logout(request=request, reason=SSOSession.EndReason.EVERYWHERE)
    return logged_out_response(request, ended=ended, location=None)


def home_view(request: HttpRequest) -> HttpResponse:
    return redirect("accounts:account" if request.user.is_authenticated else "accounts:login")
