"""Sign-in pages: login, logout and the signed-in account page."""

from urllib.parse import urlencode, urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from accounts import mfa, services
from accounts.audit import audit
from accounts.forms import LoginForm, ProfileForm
from accounts.models import SSOSession, TOTPDevice, User
from accounts.sessions import sso_session_end, sso_sessions_active, sso_sessions_end_for_user
from accounts.throttle import (
    throttle_check,
    throttle_failure,
    throttle_success,
    throttled_response,
)
from idp.middleware import DEFAULT_CSP
from idp.services.logout import frontchannel_logout_urls


def _next_path(request: HttpRequest) -> str | None:
    return services.safe_next_path(request.POST.get("next") or request.GET.get("next"))


def _loggable(email: str) -> str:
    """What was typed in the email field, for the audit log, only if it is an email address:
    people type passwords into the wrong field."""
    try:
        validate_email(email.strip())
    except ValidationError:
        return "(not an email address)"
    return email.strip().lower()


def _with_next(url: str, next_path: str | None) -> str:
    return f"{url}?{urlencode({'next': next_path})}" if next_path else url


@sensitive_post_parameters("code", "recovery_code")
@csrf_protect
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def mfa_view(request: HttpRequest) -> HttpResponse:
    """The second step: after the password at sign-in, or as a step-up for an app that asks
    for two-step verification (acr_values, or a client that requires it)."""
    next_path = _next_path(request)
    pending = mfa.mfa_pending_user(request)
    if pending is not None:
        user, first_factor = pending
    elif request.user.is_authenticated:
        user, first_factor = request.user, request.session.get(services.SESSION_AUTH_METHODS, [])
        first_factor = [m for m in first_factor if m not in {"otp", "mfa"}] or ["pwd"]
    else:
        return redirect(_with_next(reverse("accounts:login"), next_path))
    if not mfa.user_has_mfa(user):
        return redirect(_with_next(reverse("accounts:totp_setup"), next_path))
    context = {"next": next_path or "", "mfa_user": user, "has_totp": user_has_totp(user),
               "has_recovery_codes": mfa.recovery_codes_left(user) > 0}  # fmt: skip
    if request.method == "POST":
        ip = request.META.get("REMOTE_ADDR", "")
        verdict = throttle_check(kind="mfa", account=user.email, ip=ip)
        if not verdict.allowed:
            audit("mfa_throttled", request=request, user=user)
            return throttled_response(request, "accounts/mfa.html", verdict.retry_after, context)
        recovery = request.POST.get("recovery_code", "").strip()
        code = request.POST.get("code", "")
        if recovery:
            ok = mfa.recovery_code_use(user=user, code=recovery)
            event = "mfa_recovery_code_used"
        else:
            ok = mfa.totp_verify(user=user, code=code)
            event = "mfa_totp_verified"
        if ok:
            throttle_success(kind="mfa", account=user.email, ip=ip)
            mfa.mfa_clear(request)
            methods = [*first_factor, "otp", "mfa"]
            services.user_login(request=request, user=user, methods=methods)
            audit(event, request=request, user=user)
            audit("login_succeeded", request=request, user=user, methods=methods)
            return HttpResponseRedirect(next_path or reverse("accounts:account"))
        throttle_failure(kind="mfa", account=user.email, ip=ip)
        audit("mfa_failed", request=request, user=user, method="recovery" if recovery else "totp")
        context["error"] = _("That code didn't work. Check your authenticator app and try again.")
    return render(request, "accounts/mfa.html", context)


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
@mfa.second_factor_required
def totp_setup_view(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator app: scan the QR code (or type the key), confirm a code, then
    keep the ten recovery codes shown once."""
    next_path = _next_path(request)
    if user_has_totp(request.user):
        return redirect("accounts:account")
    device = mfa.totp_setup_begin(user=request.user)
    context = {"qr_svg": mfa.totp_qr_svg(device), "secret": mfa.totp_secret(device),
               "next": next_path or ""}  # fmt: skip
    if request.method == "POST":
        codes = mfa.totp_confirm(request=request, user=request.user,
                                 code=request.POST.get("code", ""))  # fmt: skip
        if codes is not None:
            # Enrolling is itself a second factor: this session is now two-step verified.
            methods = request.session.get(services.SESSION_AUTH_METHODS, ["pwd"])
            services.user_login(
                request=request,
                user=request.user,
                methods=[*[m for m in methods if m != "mfa"], "otp", "mfa"],
            )
            response = render(request, "accounts/recovery_codes.html",
                              {"codes": codes, "next": next_path or ""})  # fmt: skip
            response["Cache-Control"] = "no-store"
            return response
        context["error"] = _("That code didn't match. Try the current code from your app.")
    return render(request, "accounts/totp_setup.html", context)


@csrf_protect
@never_cache
@login_required
@require_http_methods(["POST"])
@mfa.second_factor_required
def totp_remove_view(request: HttpRequest) -> HttpResponse:
    mfa.totp_remove(request=request, user=request.user)
    messages.success(request, _("The authenticator app was removed."))
    return redirect("accounts:account")


@csrf_protect
@never_cache
@login_required
@require_http_methods(["POST"])
@mfa.second_factor_required
def recovery_codes_view(request: HttpRequest) -> HttpResponse:
    """New recovery codes (the old ones stop working), shown once."""
    if not mfa.user_has_mfa(request.user):
        return redirect("accounts:account")
    codes = mfa.recovery_codes_generate(request=request, user=request.user)
    response = render(request, "accounts/recovery_codes.html", {"codes": codes, "next": ""})
    response["Cache-Control"] = "no-store"
    return response


@csrf_protect
@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def profile_view(request: HttpRequest) -> HttpResponse:
    """The claims we serve about you: edit your profile."""
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        audit("profile_updated", request=request, user=request.user,
              fields=sorted(form.changed_data))  # fmt: skip
        messages.success(request, _("Your profile was saved."))
        return redirect("accounts:account")
    return render(request, "accounts/profile.html", {"form": form})


@csrf_protect
@never_cache
@login_required
@require_http_methods(["POST"])
def app_revoke_view(request: HttpRequest, client_id: str) -> HttpResponse:
    """Disconnect an app: forget the consent and revoke its refresh tokens."""
    from idp.services.consent import consent_revoke

    if consent_revoke(user=request.user, client_id=client_id):
        audit("consent_revoked", request=request, user=request.user, client=client_id)
        messages.success(request, _("The app was disconnected."))
    return redirect("accounts:account")


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    next_path = _next_path(request)
    if request.method == "POST":
        email = request.POST.get("email", "")[:254]
        ip = request.META.get("REMOTE_ADDR", "")
        verdict = throttle_check(kind="login", account=email, ip=ip)
        if not verdict.allowed:
            # Checked before the password, the same way for every email: it reveals nothing.
            audit("login_throttled", request=request, attempted_email=_loggable(email))
            return throttled_response(request, "accounts/login.html", verdict.retry_after,
                              {"form": LoginForm(request, initial={"email": email}),
                               "next": next_path or ""})  # fmt: skip
        form = LoginForm(request, data=request.POST)
        if form.is_valid():
            user = form.get_user()
            throttle_success(kind="login", account=email, ip=ip)
            if mfa.user_has_mfa(user):
                mfa.mfa_begin(request=request, user=user, first_factor=["pwd"])
                return redirect(_with_next(reverse("accounts:mfa"), next_path))
            services.user_login(request=request, user=user, methods=["pwd"])
            audit("login_succeeded", request=request, user=user, methods=["pwd"])
            return HttpResponseRedirect(next_path or reverse("accounts:account"))
        throttle_failure(kind="login", account=email, ip=ip)
        services.login_failed_record(request=request)
        audit("login_failed", request=request, user=User.objects.filter(
            email=email.strip().lower()).first(), attempted_email=_loggable(email))  # fmt: skip
    else:
        if request.user.is_authenticated and next_path is None:
            return redirect("accounts:account")
        form = LoginForm(request, initial={"email": request.GET.get("login_hint", "")[:254]})
    return render(request, "accounts/login.html", {"form": form, "next": next_path or ""})


def user_has_totp(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed_at__isnull=False).exists()


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
    from idp.models import Consent

    current = request.session.get(services.SESSION_SID)
    return render(
        request,
        "accounts/account.html",
        {"user": request.user, "sessions": sso_sessions_active(user=request.user),
         "current_sid": current, "has_totp": user_has_totp(request.user),
         "recovery_codes_left": mfa.recovery_codes_left(request.user),
         "has_mfa": mfa.user_has_mfa(request.user),
         "amr": request.session.get(services.SESSION_AUTH_METHODS, []),
         "consents": Consent.objects.filter(user=request.user).select_related("client")},
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
