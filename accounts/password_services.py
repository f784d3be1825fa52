"""Password reset, password change and email change: the rules, kept out of the views.

Password reset uses Django's machinery: PasswordResetForm.get_users() picks who may get a
mail (active, with a usable password, the address matched case-insensitively) and
default_token_generator makes the link's token. That token is a hash over the user's
password hash, last sign-in and email address, so it works once (a new password changes
it) and expires after settings.PASSWORD_RESET_TIMEOUT; we set nothing there, so that is
Django's default of 3 days.

Email change sends a signed, timestamped token (django.core.signing) to the new address; it
carries a keyed digest of the current address, so a link dies once the address has changed.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django.utils.translation import ngettext

from accounts.audit import audit
from accounts.models import SSOSession, User, email_normalize
from accounts.sessions import SESSION_SID, sso_sessions_end_for_user
from accounts.throttle import Verdict, throttle_check, throttle_failure, throttle_success
from idp.conf import idp_settings

logger = logging.getLogger("portcullis.accounts")

THROTTLE_RESET = "reset"
THROTTLE_PASSWORD_CHANGE = "password_change"
THROTTLE_EMAIL_CHANGE = "email_change"

EMAIL_CHANGE_SALT = "portcullis.accounts.email_change"
EMAIL_CHANGE_MAX_AGE = timedelta(hours=24)

_TEMPLATES = "accounts/email/"


class EmailChangeError(Exception):
    """An email-change link that cannot be used."""


class EmailChangeLinkInvalid(EmailChangeError):
    """Tampered, expired, already used, or its account's address changed since."""


class EmailAddressTaken(EmailChangeError):
    """Another account has the new address by now."""


def _client_ip(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "")


def _issuer_url(path: str) -> str:
    """Every URL we mail is built from the issuer, never from the Host header."""
    return f"{idp_settings.ISSUER.rstrip('/')}{path}"


def _duration_text(delta: timedelta) -> str:
    """ "3 days", "24 hours": how long a mailed link lasts, as the mail says it."""
    hours = int(delta.total_seconds() // 3600)
    if hours >= 48 and hours % 24 == 0:
        days = hours // 24
        return ngettext("%(n)d day", "%(n)d days", days) % {"n": days}
    if hours >= 1:
        return ngettext("%(n)d hour", "%(n)d hours", hours) % {"n": hours}
    minutes = max(int(delta.total_seconds() // 60), 1)
    return ngettext("%(n)d minute", "%(n)d minutes", minutes) % {"n": minutes}


def _mail_send(*, template: str, context: dict, to: str) -> None:
    subject = "".join(render_to_string(f"{_TEMPLATES}{template}_subject.txt", context).splitlines())
    body = render_to_string(f"{_TEMPLATES}{template}.txt", context)
    EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [to]).send()


# --- Password reset ---------------------------------------------------------------------


def password_reset_link(*, user: User) -> str:
    uidb64 = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return _issuer_url(reverse("accounts:password:reset_confirm", args=[uidb64, token]))


def password_reset_request(*, request: HttpRequest, email: str) -> Verdict:
    """Mail a reset link to the account with this address, if there is one that may use it.

    The caller answers alike whatever happens here, so nobody learns who has an account.
    Every request counts against the email+IP throttle (not only failures): that bounds
    how many mails anyone can make us send to one inbox. Inactive users get nothing.
    """
    email = email_normalize(email)
    ip = _client_ip(request)
    verdict = throttle_check(kind=THROTTLE_RESET, account=email, ip=ip)
    if not verdict.allowed:
        audit("password_reset_throttled", request=request, attempted_email=email)
        return verdict
    throttle_failure(kind=THROTTLE_RESET, account=email, ip=ip)
    mailer = PasswordResetForm()
    users = list(mailer.get_users(email))
    for user in users:
        context = {
            "user": user,
            "email": user.email,
            "link": password_reset_link(user=user),
            "issuer": idp_settings.ISSUER,
            "valid_for": _duration_text(timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT)),
        }
        # Django's send_mail logs a failed delivery instead of raising: an SMTP error must
        # not turn into a 500 that only existing accounts would get.
        mailer.send_mail(
            f"{_TEMPLATES}password_reset_subject.txt",
            f"{_TEMPLATES}password_reset.txt",
            context,
            None,
            user.email,
        )
        audit("password_reset_requested", request=request, user=user)
    if not users:
        audit("password_reset_requested", request=request, attempted_email=email,
              account_found=False)  # fmt: skip
    return verdict


def password_reset_user(*, uidb64: str, token: str) -> User | None:
    """The user a reset link is for, or None if the link is garbage, used or expired."""
    try:
        pk = urlsafe_base64_decode(uidb64).decode()
        user = User._default_manager.get(pk=pk)
    except (TypeError, ValueError, OverflowError, User.DoesNotExist, ValidationError):
        return None
    if not user.is_active or not default_token_generator.check_token(user, token):
        return None
    return user


@transaction.atomic
def password_reset_complete(*, request: HttpRequest, user: User, password: str) -> int:
    """Set the new password (already validated) and end every session of the user: whoever
    else was signed in with the old password is out. Returns how many sessions ended."""
    from accounts.services import user_logout

    user.set_password(password)
    user.save(update_fields=["password"])
    if request.user.is_authenticated and request.user.pk == user.pk:
        # This browser's session is about to be deleted; flush it now, so the response
        # does not try to save a session row that no longer exists.
        user_logout(request=request, reason=SSOSession.EndReason.PASSWORD_CHANGED)
    ended = sso_sessions_end_for_user(user=user, reason=SSOSession.EndReason.PASSWORD_CHANGED)
    audit("password_reset_completed", request=request, user=user, actor=user,
          sessions_ended=ended)  # fmt: skip
    return ended


# --- Password change --------------------------------------------------------------------


def password_change_verdict(*, request: HttpRequest, user: User) -> Verdict:
    """Guessing the current password through this form is throttled like sign-in."""
    return throttle_check(kind=THROTTLE_PASSWORD_CHANGE, account=user.email,
                          ip=_client_ip(request))  # fmt: skip


def password_change_failed(*, request: HttpRequest, user: User) -> None:
    throttle_failure(kind=THROTTLE_PASSWORD_CHANGE, account=user.email, ip=_client_ip(request))
    audit("password_change_failed", request=request, user=user)


@transaction.atomic
def password_change(*, request: HttpRequest, user: User, password: str) -> int:
    """Set the new password (old one checked, new one validated by the form), keep this
    browser signed in and end every other session. Returns how many sessions ended."""
    current_sid = request.session.get(SESSION_SID)
    user.set_password(password)
    user.save(update_fields=["password"])
    # Keeps this browser signed in under the new password hash; it also gives the session
    # a new key, which the sign-in session record must follow.
    update_session_auth_hash(request, user)
    if current_sid:
        SSOSession.objects.filter(sid=current_sid, user=user).update(
            session_key=request.session.session_key or ""
        )
    ended = sso_sessions_end_for_user(
        user=user, reason=SSOSession.EndReason.PASSWORD_CHANGED, keep_sid=current_sid
    )
    throttle_success(kind=THROTTLE_PASSWORD_CHANGE, account=user.email, ip=_client_ip(request))
    audit("password_changed", request=request, user=user, sessions_ended=ended)
    return ended


# --- Email change -----------------------------------------------------------------------


def _email_digest(email: str) -> str:
    # A keyed digest rather than the address itself: the token is readable by whoever holds
    # the link (the owner of the new address), who need not learn the old one.
    return salted_hmac(EMAIL_CHANGE_SALT, email_normalize(email)).hexdigest()[:32]


def email_change_token_make(*, user: User, new_email: str) -> str:
    payload = {"user": user.pk, "new": email_normalize(new_email),
               "old": _email_digest(user.email)}  # fmt: skip
    return signing.dumps(payload, salt=EMAIL_CHANGE_SALT)


def _email_change_payload(token: str) -> tuple[int, str, str]:
    try:
        payload = signing.loads(token, salt=EMAIL_CHANGE_SALT, max_age=EMAIL_CHANGE_MAX_AGE)
    except signing.BadSignature as exc:  # SignatureExpired included
        raise EmailChangeLinkInvalid from exc
    if not isinstance(payload, dict):
        raise EmailChangeLinkInvalid
    pk, new_email, old = payload.get("user"), payload.get("new"), payload.get("old")
    if not isinstance(pk, int) or not isinstance(new_email, str) or not isinstance(old, str):
        raise EmailChangeLinkInvalid
    return pk, new_email, old


def _email_change_user_check(user: User | None, old_digest: str) -> User:
    if user is None or not user.is_active:
        raise EmailChangeLinkInvalid
    if not constant_time_compare(_email_digest(user.email), old_digest):
        raise EmailChangeLinkInvalid
    return user


def email_change_token_read(*, token: str) -> tuple[User, str]:
    """The user and new address an email-change link is for. Raises EmailChangeLinkInvalid
    if it is tampered with, older than 24 hours, or the user's address has changed since."""
    pk, new_email, old_digest = _email_change_payload(token)
    user = _email_change_user_check(User.objects.filter(pk=pk).first(), old_digest)
    return user, new_email


def email_address_taken(*, email: str, user: User) -> bool:
    return User.objects.filter(email=email_normalize(email)).exclude(pk=user.pk).exists()


def email_change_verdict(*, request: HttpRequest, user: User) -> Verdict:
    """Every email-change request counts (it sends mail, and checks the password)."""
    return throttle_check(kind=THROTTLE_EMAIL_CHANGE, account=user.email,
                          ip=_client_ip(request))  # fmt: skip


def email_change_failed(*, request: HttpRequest, user: User) -> None:
    throttle_failure(kind=THROTTLE_EMAIL_CHANGE, account=user.email, ip=_client_ip(request))
    audit("email_change_failed", request=request, user=user)


def email_change_request(*, request: HttpRequest, user: User, new_email: str) -> None:
    """Mail a verification link to the new address and a notice to the current one.

    If another account already has the new address, its owner gets a notice instead of a
    link, and the requester sees the same page either way: the form tells nobody which
    addresses have accounts.
    """
    new_email = email_normalize(new_email)
    throttle_failure(kind=THROTTLE_EMAIL_CHANGE, account=user.email, ip=_client_ip(request))
    taken = email_address_taken(email=new_email, user=user)
    context = {"user": user, "old_email": user.email, "new_email": new_email,
               "issuer": idp_settings.ISSUER,
               "reset_url": _issuer_url(reverse("accounts:password:reset")),
               "valid_for": _duration_text(EMAIL_CHANGE_MAX_AGE)}  # fmt: skip
    if taken:
        # Nothing about the requester goes to the owner of the address.
        _mail_send(template="email_change_taken", context={"email": new_email,
                   "issuer": idp_settings.ISSUER}, to=new_email)  # fmt: skip
    else:
        token = email_change_token_make(user=user, new_email=new_email)
        link = _issuer_url(reverse("accounts:password:email_verify", args=[token]))
        _mail_send(template="email_change_verify", context={**context, "link": link},
                   to=new_email)  # fmt: skip
    _mail_send(template="email_change_notice", context=context, to=user.email)
    audit("email_change_requested", request=request, user=user, new_email=new_email,
          address_taken=taken)  # fmt: skip


def email_change_confirm(*, request: HttpRequest, token: str) -> User:
    """Apply a verified email change: the new address is now the user's, and verified."""
    pk, new_email, old_digest = _email_change_payload(token)
    with transaction.atomic():
        # Checked under the row lock: of two links racing, only the first one counts.
        user = User.objects.select_for_update().filter(pk=pk).first()
        user = _email_change_user_check(user, old_digest)
        old_email = user.email
        if email_address_taken(email=new_email, user=user):
            raise EmailAddressTaken
        user.email = new_email
        user.email_verified = True
        try:
            with transaction.atomic():
                user.save(update_fields=["email", "email_verified", "updated_at"])
        except IntegrityError as exc:  # taken between the check and the write
            raise EmailAddressTaken from exc
    audit("email_changed", request=request, user=user, actor=user, old_email=old_email,
          new_email=user.email)  # fmt: skip
    return user
