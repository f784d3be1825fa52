"""Two-step verification: authenticator apps (TOTP, RFC 6238), recovery codes, and the
sign-in step between the password and a signed-in session.

amr values (RFC 8176) recorded for the session: pwd (password), otp (authenticator code),
hwk (passkey / security key), mfa (two factors, or a user-verified passkey).
"""

import hmac
import io
import secrets
import time
from datetime import timedelta

import pyotp
import qrcode
import qrcode.image.svg
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import salted_hmac

from accounts.audit import audit
from accounts.models import RecoveryCode, TOTPDevice, User
from idp.encryption import decrypt, encrypt

MFA_PENDING = "portcullis_mfa_pending"
MFA_PENDING_TTL = timedelta(minutes=5)
RECOVERY_CODE_COUNT = 10
ISSUER_NAME = "Portcullis"
# `acr` values we assert: a password alone, or a second factor too.
ACR_PASSWORD = "urn:portcullis:loa:1"
ACR_MFA = "urn:portcullis:loa:2"


def acr_for(amr: list[str]) -> str:
    return ACR_MFA if "mfa" in amr else ACR_PASSWORD


def user_has_mfa(user: User) -> bool:
    return (
        TOTPDevice.objects.filter(user=user, confirmed_at__isnull=False).exists()
        or user.passkeys.exists()
    )


# --- the pending second step at sign-in ---


def mfa_begin(*, request: HttpRequest, user: User, first_factor: list[str]) -> None:
    """The password was right; the session is not signed in until the second factor is."""
    request.session.cycle_key()
    request.session[MFA_PENDING] = {
        "user_id": user.pk,
        "first_factor": first_factor,
        "started": int(time.time()),
    }


def mfa_pending_user(request: HttpRequest) -> tuple[User, list[str]] | None:
    pending = request.session.get(MFA_PENDING)
    if not pending or time.time() - pending["started"] > MFA_PENDING_TTL.total_seconds():
        return None
    user = User.objects.filter(pk=pending["user_id"], is_active=True).first()
    return (user, pending["first_factor"]) if user is not None else None


def mfa_clear(request: HttpRequest) -> None:
    request.session.pop(MFA_PENDING, None)


# --- authenticator apps ---


def totp_setup_begin(*, user: User) -> TOTPDevice:
    """The user's device being set up: the unconfirmed one from a previous visit (so the QR
    code they scanned stays valid), or a new one with a fresh secret."""
    device = TOTPDevice.objects.filter(user=user).first()
    if device is not None:
        return device
    secret = pyotp.random_base32().encode()
    return TOTPDevice.objects.create(user=user, secret_encrypted=encrypt(secret))


def totp_secret(device: TOTPDevice) -> str:
    return decrypt(device.secret_encrypted).decode()


def totp_provisioning_uri(device: TOTPDevice) -> str:
    return pyotp.TOTP(totp_secret(device)).provisioning_uri(
        name=device.user.email, issuer_name=ISSUER_NAME
    )


def totp_qr_svg(device: TOTPDevice) -> str:
    """The provisioning URI as an inline SVG, rendered here: no third-party QR service."""
    image = qrcode.make(totp_provisioning_uri(device), image_factory=qrcode.image.svg.SvgPathImage,
                        box_size=8)  # fmt: skip
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue().decode()


def _totp_step(device: TOTPDevice, code: str) -> int | None:
    """The time step `code` is valid for (now ±1 step of drift), or None."""
    code = (code or "").strip().replace(" ", "")
    if not (code.isascii() and code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(totp_secret(device))
    now = time.time()
    for drift in (0, -1, 1):
        at = now + drift * totp.interval
        if hmac.compare_digest(totp.at(at), code):
            return int(at // totp.interval)
    return None


@transaction.atomic
def totp_confirm(*, request: HttpRequest, user: User, code: str) -> list[str] | None:
    """Confirm enrolment with a first code; returns the new recovery codes (shown once)."""
    device = TOTPDevice.objects.select_for_update().filter(user=user).first()
    if device is None or device.confirmed_at is not None:
        return None
    step = _totp_step(device, code)
    if step is None:
        return None
    device.confirmed_at = timezone.now()
    device.last_used_step = step
    device.save(update_fields=["confirmed_at", "last_used_step"])
    audit("mfa_totp_enrolled", request=request, user=user)
    return recovery_codes_generate(request=request, user=user)


@transaction.atomic
def totp_verify(*, user: User, code: str) -> bool:
    """A correct code not used before (replay of a just-used code is refused)."""
    device = (
        TOTPDevice.objects.select_for_update().filter(user=user, confirmed_at__isnull=False).first()
    )
    if device is None:
        return False
    step = _totp_step(device, code)
    if step is None or step <= device.last_used_step:
        return False
    device.last_used_step = step
    device.save(update_fields=["last_used_step"])
    return True


def totp_remove(*, request: HttpRequest, user: User) -> None:
    TOTPDevice.objects.filter(user=user).delete()
    if not user_has_mfa(user):  # a passkey may still be the second step: keep its codes
        RecoveryCode.objects.filter(user=user).delete()
    audit("mfa_totp_removed", request=request, user=user)


# --- recovery codes ---


def _code_hash(code: str, secret: str | None = None) -> str:
    normalized = code.strip().replace("-", "").replace(" ", "").lower()
    return salted_hmac("portcullis.recovery", normalized, secret=secret or settings.SECRET_KEY,
                       algorithm="sha256").hexdigest()  # fmt: skip


def recovery_codes_generate(*, request: HttpRequest, user: User) -> list[str]:
    """Ten fresh single-use codes (the old ones stop working); shown once, stored hashed."""
    RecoveryCode.objects.filter(user=user).delete()
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = secrets.token_hex(5)  # 40 bits each, typed by a person
        codes.append(f"{raw[:5]}-{raw[5:]}")
    RecoveryCode.objects.bulk_create(
        RecoveryCode(user=user, code_hash=_code_hash(code)) for code in codes
    )
    audit("mfa_recovery_codes_generated", request=request, user=user)
    return codes


def recovery_code_use(*, user: User, code: str) -> bool:
    if not code or len(code) > 40:
        return False
    # Codes made before a SECRET_KEY rotation still work under SECRET_KEY_FALLBACKS.
    secrets_in_use = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    used = RecoveryCode.objects.filter(
        user=user,
        code_hash__in=[_code_hash(code, s) for s in secrets_in_use],
        used_at__isnull=True,
    )[:1]
    ids = list(used.values_list("pk", flat=True))
    claimed = RecoveryCode.objects.filter(pk__in=ids, used_at__isnull=True)
    return claimed.update(used_at=timezone.now()) == 1


def recovery_codes_left(user: User) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()


def second_factor_required(view):
    """For views that add, remove or mint second factors: a user who has one must have used
    it in this session, or a stolen password (or one factor) could replace the other."""
    from functools import wraps
    from urllib.parse import urlencode

    from django.shortcuts import redirect
    from django.urls import reverse

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        amr = request.session.get("portcullis_amr", [])
        if user_has_mfa(request.user) and "mfa" not in amr:
            target = request.get_full_path() if request.method == "GET" else reverse(
                "accounts:account")  # fmt: skip
            return redirect(f"{reverse('accounts:mfa')}?{urlencode({'next': target})}")
        return view(request, *args, **kwargs)

    return wrapper


def mfa_required_for(*, client, acr_values: list[str], claims: dict | None) -> bool:
    """Does this authorization request need a second factor (step-up)?"""
    if getattr(client, "require_mfa", False) or ACR_MFA in acr_values:
        return True
    acr_claim = ((claims or {}).get("id_token") or {}).get("acr") or {}
    if isinstance(acr_claim, dict) and acr_claim.get("essential"):
        wanted = acr_claim.get("values") or [acr_claim.get("value")]
        return ACR_MFA in wanted
    return False


def totp_secrets_reencrypt() -> int:
    """Re-encrypt every authenticator secret under the current key-encryption key (part of
    `manage.py keys reencrypt`, so rotating that key locks no one out)."""
    from idp.encryption import reencrypt

    count = 0
    with transaction.atomic():
        for device in TOTPDevice.objects.select_for_update():
            device.secret_encrypted = reencrypt(device.secret_encrypted)
            device.save(update_fields=["secret_encrypted"])
            count += 1
    return count
