"""Passkeys (WebAuthn): registering them on the account page, and signing in with one, either
without a password (a discoverable credential) or as the second step after the password.

This provider is the WebAuthn relying party. Its RP ID is the host name of IDP_ISSUER and the
origin it expects is the issuer's scheme://host[:port]. Browsers refuse an IP address as an
RP ID, so passkeys need the issuer to be addressed by a name: "localhost" works for local
development, "127.0.0.1" does not. A credential is bound to its RP ID: changing the issuer's
host name strands every registered passkey.

amr (RFC 8176): a passkey is "hwk"; one whose authenticator verified the user (PIN,
fingerprint, face: the UV flag) is two factors in one, so "hwk" and "mfa".

Challenges live in the Django session, one per ceremony, for five minutes, and are consumed
by the first attempt to answer them, right or wrong.
"""

import hmac
import json
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_authentication_credential_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from accounts import mfa
from accounts.audit import audit
from accounts.models import TOTPDevice, User, WebAuthnCredential
from accounts.services import SESSION_AUTH_METHODS, user_login
from idp.conf import idp_settings

CHALLENGE_TTL = timedelta(minutes=5)
SESSION_CHALLENGES = "portcullis_passkey_challenges"
# The passkey that was the first factor of this sign-in: it cannot also be the second.
SESSION_FIRST_FACTOR = "portcullis_passkey_first_factor"
RP_NAME = mfa.ISSUER_NAME
NAME_MAX_LENGTH = WebAuthnCredential._meta.get_field("name").max_length
CREDENTIAL_ID_MAX_BYTES = 1023  # WebAuthn §5.8.3

REGISTER, LOGIN, SECOND_FACTOR = "register", "login", "mfa"

# What a library parsing hostile input may raise besides its own errors: bad base64
# (binascii.Error is a ValueError), bad CBOR, wrong JSON types deeper than it checks.
_MALFORMED = (WebAuthnException, ValueError, TypeError, KeyError, IndexError, AttributeError,
              OverflowError, RecursionError)  # fmt: skip


class PasskeyError(Exception):
    """A ceremony failed. `message` is safe to show; `reason` is for the audit log only."""

    def __init__(self, message, *, reason: str, user: User | None = None) -> None:
        super().__init__(reason)
        self.message = str(message)
        self.reason = reason
        self.user = user


# Messages that look alike whatever went wrong (STYLE §6.7).
NOT_VERIFIED = _("That passkey could not be verified. Please try again.")
EXPIRED = _("The passkey request expired. Please try again.")


@dataclass
class PasskeyAssertion:
    passkey: WebAuthnCredential
    user_verified: bool


def passkey_relying_party() -> tuple[str, str]:
    """(RP ID, expected origin), both from the issuer: never from the request's Host."""
    issuer = urlsplit(idp_settings.ISSUER)
    return issuer.hostname or "", f"{issuer.scheme}://{issuer.netloc}"


def passkey_user_handle(*, user: User) -> bytes:
    """The WebAuthn user.id: stable per account, and neither the email nor the primary key."""
    return _user_handles(user)[0]


def _user_handles(user: User) -> list[bytes]:
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return [salted_hmac("portcullis.passkeys.user_handle", str(user.pk), secret=key,
                        algorithm="sha256").digest() for key in keys]  # fmt: skip


def passkey_sign_count_ok(*, stored: int, presented: int) -> bool:
    """A signature counter must grow, unless the authenticator keeps none (both zero):
    a counter that does not is the sign of a cloned authenticator or a replay."""
    if stored == 0 and presented == 0:
        return True
    return presented > stored


def passkey_list(*, user: User) -> list[WebAuthnCredential]:
    return list(user.passkeys.order_by("created_at", "pk"))


# --- challenges ---


def _challenge_store(request: HttpRequest, purpose: str, challenge: bytes,
                     user_id: int | None = None) -> None:  # fmt: skip
    challenges = dict(request.session.get(SESSION_CHALLENGES) or {})
    challenges[purpose] = {"challenge": bytes_to_base64url(challenge), "user_id": user_id,
                           "started": int(time.time())}  # fmt: skip
    request.session[SESSION_CHALLENGES] = challenges


def _challenge_take(request: HttpRequest, purpose: str) -> dict | None:
    """The pending challenge of `purpose`, removed from the session: it is single use."""
    challenges = dict(request.session.get(SESSION_CHALLENGES) or {})
    pending = challenges.pop(purpose, None)
    request.session[SESSION_CHALLENGES] = challenges
    if not pending or time.time() - pending["started"] > CHALLENGE_TTL.total_seconds():
        return None
    return pending


def passkey_challenge_discard(*, request: HttpRequest, purpose: str) -> None:
    _challenge_take(request, purpose)


def _descriptors(passkeys: list[WebAuthnCredential]) -> list[PublicKeyCredentialDescriptor]:
    known = {t.value for t in AuthenticatorTransport}
    return [
        PublicKeyCredentialDescriptor(
            id=base64url_to_bytes(p.credential_id),
            transports=[AuthenticatorTransport(t) for t in p.transports if t in known] or None,
        )
        for p in passkeys
    ]


def _timeout_ms() -> int:
    return int(CHALLENGE_TTL.total_seconds() * 1000)


# --- registration ---


def passkey_registration_options(*, request: HttpRequest, user: User) -> dict:
    """Options for navigator.credentials.create(), as JSON-ready data; the challenge is
    kept in the session."""
    rp_id, _origin = passkey_relying_party()
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=RP_NAME,
        user_id=passkey_user_handle(user=user),
        user_name=user.email,
        user_display_name=getattr(user, "full_name", "") or user.email,
        timeout=_timeout_ms(),
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=_descriptors(passkey_list(user=user)),
    )
    _challenge_store(request, REGISTER, options.challenge, user_id=user.pk)
    data = json.loads(options_to_json(options))
    # Ask the browser whether the key is discoverable (usable without typing an email).
    data["extensions"] = {"credProps": True}
    return data


def passkey_name_clean(name: object) -> str:
    if not isinstance(name, str):
        return "Passkey"
    name = " ".join(name.split())[:NAME_MAX_LENGTH]
    return name or "Passkey"


def passkey_register(*, request: HttpRequest, user: User, credential: object,
                     name: object) -> WebAuthnCredential:  # fmt: skip
    """Verify the browser's answer to the registration options and store the public key."""
    pending = _challenge_take(request, REGISTER)
    if pending is None or pending["user_id"] != user.pk:
        raise PasskeyError(EXPIRED, reason="no_challenge", user=user)
    if not isinstance(credential, dict):
        raise PasskeyError(NOT_VERIFIED, reason="malformed", user=user)
    rp_id, origin = passkey_relying_party()
    try:
        parsed = parse_registration_credential_json(credential)
        verified = verify_registration_response(
            credential=parsed,
            expected_challenge=base64url_to_bytes(pending["challenge"]),
            expected_rp_id=rp_id,
            expected_origin=origin,
        )
    except _MALFORMED as exc:
        raise PasskeyError(NOT_VERIFIED, reason=f"invalid: {exc}"[:200], user=user) from exc
    if len(verified.credential_id) > CREDENTIAL_ID_MAX_BYTES:
        raise PasskeyError(NOT_VERIFIED, reason="credential_id_too_long", user=user)
    credential_id = bytes_to_base64url(verified.credential_id)
    extensions = credential.get("clientExtensionResults")
    cred_props = extensions.get("credProps") if isinstance(extensions, dict) else None
    is_discoverable = isinstance(cred_props, dict) and cred_props.get("rk") is True
    try:
        with transaction.atomic():
            passkey = WebAuthnCredential.objects.create(
                user=user,
                name=passkey_name_clean(name),
                credential_id=credential_id,
                public_key=bytes_to_base64url(verified.credential_public_key),
                sign_count=verified.sign_count,
                transports=[t.value for t in parsed.response.transports or []],
                aaguid=verified.aaguid,
                is_discoverable=is_discoverable,
            )
    except IntegrityError as exc:
        raise PasskeyError(_("That passkey is already registered."), reason="duplicate",
                           user=user) from exc  # fmt: skip
    audit("passkey_registered", request=request, user=user, name=passkey.name,
          passkey_id=passkey.pk)  # fmt: skip
    return passkey


def passkey_remove(*, request: HttpRequest, user: User, passkey_id: int) -> bool:
    """Remove one of `user`'s own passkeys; someone else's is left alone (False)."""
    passkey = WebAuthnCredential.objects.filter(pk=passkey_id, user=user).first()
    if passkey is None:
        return False
    passkey.delete()
    audit("passkey_removed", request=request, user=user, name=passkey.name,
          passkey_id=passkey_id)  # fmt: skip
    return True


# --- authentication ---


def passkey_authentication_options(*, request: HttpRequest, purpose: str,
                                   user: User | None = None) -> dict:  # fmt: skip
    """Options for navigator.credentials.get(). Without a user (passwordless sign-in) the
    list of allowed credentials is empty, so the browser offers its discoverable passkeys."""
    rp_id, _origin = passkey_relying_party()
    options = generate_authentication_options(
        rp_id=rp_id,
        timeout=_timeout_ms(),
        allow_credentials=_descriptors(passkey_list(user=user)) if user is not None else [],
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    _challenge_store(request, purpose, options.challenge,
                     user_id=user.pk if user is not None else None)  # fmt: skip
    return json.loads(options_to_json(options))


def passkey_claimed_id(credential: object) -> str:
    """The credential id the browser claims, for throttling before anything is verified."""
    value = credential.get("id") if isinstance(credential, dict) else None
    return value[:1400] if isinstance(value, str) else ""


def passkey_verify(*, request: HttpRequest, purpose: str, credential: object,
                   user: User | None = None) -> PasskeyAssertion:  # fmt: skip
    """Check an assertion against the session's challenge and the stored public key, then
    record the new signature counter. With `user`, only that user's passkeys are accepted."""
    pending = _challenge_take(request, purpose)
    if pending is None or (user is not None and pending["user_id"] != user.pk):
        raise PasskeyError(EXPIRED, reason="no_challenge", user=user)
    if not isinstance(credential, dict):
        raise PasskeyError(NOT_VERIFIED, reason="malformed", user=user)
    try:
        parsed = parse_authentication_credential_json(credential)
    except _MALFORMED as exc:
        raise PasskeyError(NOT_VERIFIED, reason="malformed", user=user) from exc
    rp_id, origin = passkey_relying_party()
    with transaction.atomic():
        passkey = (
            WebAuthnCredential.objects.select_for_update()
            .select_related("user")
            .filter(credential_id=parsed.id)
            .first()
        )
        if passkey is None or (user is not None and passkey.user_id != user.pk):
            raise PasskeyError(NOT_VERIFIED, reason="unknown_credential", user=user)
        owner = passkey.user
        if not owner.is_active:
            raise PasskeyError(NOT_VERIFIED, reason="inactive_user", user=owner)
        handle = parsed.response.user_handle
        if handle is not None and not any(
            hmac.compare_digest(handle, expected) for expected in _user_handles(owner)
        ):
            raise PasskeyError(NOT_VERIFIED, reason="user_handle_mismatch", user=owner)
        try:
            verified = verify_authentication_response(
                credential=parsed,
                expected_challenge=base64url_to_bytes(pending["challenge"]),
                expected_rp_id=rp_id,
                expected_origin=origin,
                credential_public_key=base64url_to_bytes(passkey.public_key),
                credential_current_sign_count=passkey.sign_count,
            )
        except _MALFORMED as exc:
            raise PasskeyError(NOT_VERIFIED, reason=f"invalid: {exc}"[:200], user=owner) from exc
        if not passkey_sign_count_ok(stored=passkey.sign_count, presented=verified.new_sign_count):
            raise PasskeyError(NOT_VERIFIED, reason="sign_count", user=owner)
        passkey.sign_count = verified.new_sign_count
        passkey.last_used_at = timezone.now()
        passkey.save(update_fields=["sign_count", "last_used_at"])
    return PasskeyAssertion(passkey=passkey, user_verified=verified.user_verified)


def _methods(*methods: str) -> list[str]:
    return list(dict.fromkeys(methods))


def _has_other_factor(user: User, passkey: WebAuthnCredential) -> bool:
    return (
        TOTPDevice.objects.filter(user=user, confirmed_at__isnull=False).exists()
        or user.passkeys.exclude(pk=passkey.pk).exists()
    )


def _mfa_url(next_path: str | None) -> str:
    url = reverse("accounts:mfa")
    return f"{url}?{urlencode({'next': next_path})}" if next_path else url


def passkey_login(*, request: HttpRequest, credential: object, next_path: str | None) -> str:
    """Passwordless sign-in (first factor). Returns where the browser goes next: the
    requested page, or the second step when the passkey alone is not enough."""
    assertion = passkey_verify(request=request, purpose=LOGIN, credential=credential)
    passkey, user = assertion.passkey, assertion.passkey.user
    if not assertion.user_verified and _has_other_factor(user, passkey):
        # Possession only, and the account has a second factor: ask for it.
        mfa.mfa_begin(request=request, user=user, first_factor=["hwk"])
        request.session[SESSION_FIRST_FACTOR] = passkey.credential_id
        audit("passkey_login_succeeded", request=request, user=user, name=passkey.name,
              user_verified=False, second_step=True)  # fmt: skip
        return _mfa_url(next_path)
    methods = ["hwk", "mfa"] if assertion.user_verified else ["hwk"]
    user_login(request=request, user=user, methods=methods)
    request.session[SESSION_FIRST_FACTOR] = passkey.credential_id
    audit("passkey_login_succeeded", request=request, user=user, name=passkey.name,
          user_verified=assertion.user_verified)  # fmt: skip
    audit("login_succeeded", request=request, user=user, methods=methods)
    return next_path or reverse("accounts:account")


def passkey_mfa_user(request: HttpRequest) -> tuple[User, list[str]] | None:
    """Whose second step this is, and their first factor: a sign-in waiting for it, or the
    signed-in user stepping up (as the second-step page decides)."""
    pending = mfa.mfa_pending_user(request)
    if pending is not None:
        return pending
    if request.user.is_authenticated:
        first = request.session.get(SESSION_AUTH_METHODS, [])
        return request.user, [m for m in first if m not in {"otp", "mfa"}] or ["pwd"]
    return None


def passkey_mfa_complete(*, request: HttpRequest, credential: object,
                         next_path: str | None) -> str:  # fmt: skip
    """The second step with a passkey; returns where the browser goes next."""
    pending = passkey_mfa_user(request)
    if pending is None:
        passkey_challenge_discard(request=request, purpose=SECOND_FACTOR)
        raise PasskeyError(EXPIRED, reason="no_pending_sign_in")
    user, first_factor = pending
    assertion = passkey_verify(request=request, purpose=SECOND_FACTOR, credential=credential,
                               user=user)  # fmt: skip
    passkey = assertion.passkey
    if (
        "hwk" in first_factor
        and not assertion.user_verified
        and passkey.credential_id == request.session.get(SESSION_FIRST_FACTOR)
    ):
        raise PasskeyError(_("Use a different passkey, or your authenticator app, for this step."),
                           reason="same_passkey_twice", user=user)  # fmt: skip
    mfa.mfa_clear(request)
    methods = _methods(*first_factor, "hwk", "mfa")
    user_login(request=request, user=user, methods=methods)
    audit("passkey_login_succeeded", request=request, user=user, name=passkey.name,
          user_verified=assertion.user_verified, second_step=True)  # fmt: skip
    audit("login_succeeded", request=request, user=user, methods=methods)
    return next_path or reverse("accounts:account")
