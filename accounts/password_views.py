"""Password reset by email, password change and email change pages."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from accounts import password_services as services
from accounts.password_forms import (
    EmailChangeForm,
    PasswordChangeBoundedForm,
    PasswordResetRequestForm,
    PasswordSetForm,
)
from accounts.throttle import throttled_response


def _posted(request: HttpRequest):
    return request.POST if request.method == "POST" else None


@csrf_protect
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def password_reset_view(request: HttpRequest) -> HttpResponse:
    """Ask for a reset link. Known, unknown and inactive addresses get the same answer."""
    form = PasswordResetRequestForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        verdict = services.password_reset_request(request=request,
                                                  email=form.cleaned_data["email"])  # fmt: skip
        if not verdict.allowed:
            return throttled_response(
                request, "accounts/password_reset_sent.html", verdict.retry_after, {}
            )
        return render(request, "accounts/password_reset_sent.html")
    return render(request, "accounts/password_reset.html", {"form": form})


@sensitive_post_parameters("new_password1", "new_password2")
@csrf_protect
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def password_reset_confirm_view(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """The page a reset link opens: choose a new password. The form posts back to the same
    link, and the token is checked again then."""
    user = services.password_reset_user(uidb64=uidb64, token=token)
    if user is None:
        return render(request, "accounts/password_reset_invalid.html", status=400)
    form = PasswordSetForm(user, _posted(request))
    if request.method == "POST" and form.is_valid():
        services.password_reset_complete(request=request, user=user,
                                         password=form.cleaned_data["new_password1"])  # fmt: skip
        return render(request, "accounts/password_reset_done.html")
    return render(request, "accounts/password_reset_confirm.html", {"form": form, "user": user})


@sensitive_post_parameters("old_password", "new_password1", "new_password2")
@csrf_protect
@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def password_change_view(request: HttpRequest) -> HttpResponse:
    """Change your password; every other session is signed out, this one stays."""
    user = request.user
    form = PasswordChangeBoundedForm(user, _posted(request))
    if request.method == "POST":
        verdict = services.password_change_verdict(request=request, user=user)
        if not verdict.allowed:
            return throttled_response(
                request, "accounts/password_change.html", verdict.retry_after, {"form": form}
            )
        if form.is_valid():
            services.password_change(request=request, user=user,
                                     password=form.cleaned_data["new_password1"])  # fmt: skip
            messages.success(
                request, _("Your password was changed. Your other sessions were signed out.")
            )
            return redirect("accounts:account")
        if form.has_error("old_password", "password_incorrect"):
            services.password_change_failed(request=request, user=user)
    return render(request, "accounts/password_change.html", {"form": form})


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def email_change_view(request: HttpRequest) -> HttpResponse:
    """Ask to change your email address: a link goes to the new one to prove it is yours."""
    user = request.user
    form = EmailChangeForm(user, _posted(request))
    if request.method == "POST":
        verdict = services.email_change_verdict(request=request, user=user)
        if not verdict.allowed:
            return throttled_response(
                request, "accounts/email_change.html", verdict.retry_after, {"form": form}
            )
        if form.is_valid():
            new_email = form.cleaned_data["new_email"]
            services.email_change_request(request=request, user=user, new_email=new_email)
            return render(request, "accounts/email_change_sent.html", {"new_email": new_email})
        services.email_change_failed(request=request, user=user)
    return render(request, "accounts/email_change.html", {"form": form})


@csrf_protect
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def email_verify_view(request: HttpRequest, token: str) -> HttpResponse:
    """The page the verification link opens. GET only asks: mail scanners follow links, and
    the change should be the person's decision, so only the POST of the button applies it."""
    try:
        user, new_email = services.email_change_token_read(token=token)
        if services.email_address_taken(email=new_email, user=user):
            raise services.EmailAddressTaken
        if request.method == "POST":
            services.email_change_confirm(request=request, token=token)
            messages.success(request, _("Your email address is now %(email)s.")
                             % {"email": new_email})  # fmt: skip
            return redirect("accounts:account")
    except services.EmailAddressTaken:
        return render(request, "accounts/email_verify_invalid.html",
                      {"taken": True, "new_email": new_email}, status=409)  # fmt: skip
    except services.EmailChangeLinkInvalid:
        return render(request, "accounts/email_verify_invalid.html", status=400)
    return render(request, "accounts/email_verify.html", {"new_email": new_email})
