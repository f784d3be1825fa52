"""Passkeys (WebAuthn): registration, passwordless sign-in and the second step, over HTTP with
a software authenticator that signs real attestations and assertions."""

import hashlib
import json
import os
import struct
from datetime import timedelta

import cbor2
import pytest
import time_machine
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from django.test import Client
from django.utils import timezone
from webauthn.helpers import bytes_to_base64url

from accounts import mfa
from accounts.models import AuditEvent, SSOSession, TOTPDevice, WebAuthnCredential
from accounts.passkeys import (
    passkey_relying_party,
    passkey_sign_count_ok,
    passkey_user_handle,
)
from accounts.services import SESSION_AUTH_METHODS
from idp.conf import idp_settings
from idp.encryption import encrypt
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

ISSUER = "http://localhost:8000"
ORIGIN = "http://localhost:8000"
RP_ID = "localhost"

REGISTER_OPTIONS = "/account/passkeys/register/options"
REGISTER_VERIFY = "/account/passkeys/register/verify"
LOGIN_OPTIONS = "/login/passkey/options"
LOGIN_VERIFY = "/login/passkey/verify"
MFA_OPTIONS = "/login/mfa/passkey/options"
MFA_VERIFY = "/login/mfa/passkey/verify"

FLAG_UP, FLAG_UV, FLAG_AT = 0x01, 0x04, 0x40


def sign_in_two_step(client, user) -> None:
    """A session that has used its second step (changing factors requires one)."""
    client.force_login(user)
    session = client.session
    session["portcullis_amr"] = ["pwd", "otp", "mfa"]
    session.save()


@pytest.fixture(autouse=True)
def _issuer(settings):
    settings.IDP_ISSUER = ISSUER


class SoftAuthenticator:
    """A minimal CTAP-less authenticator: one P-256 key, "none" attestation."""

    def __init__(self, *, user_verified: bool = True, sign_count: int = 0, rp_id: str = RP_ID):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(16)
        self.user_verified = user_verified
        self.sign_count = sign_count
        self.rp_id = rp_id
        self.user_handle: bytes | None = None

    @property
    def id(self) -> str:
        return bytes_to_base64url(self.credential_id)

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,
                3: -7,
                -1: 1,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def _auth_data(self, *, attested: bool) -> bytes:
        flags = FLAG_UP | (FLAG_UV if self.user_verified else 0) | (FLAG_AT if attested else 0)
        data = hashlib.sha256(self.rp_id.encode()).digest() + bytes([flags])
        data += struct.pack(">I", self.sign_count)
        if attested:
            data += bytes(16) + struct.pack(">H", len(self.credential_id))
            data += self.credential_id + self._cose_key()
        return data

    @staticmethod
    def _client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}
        ).encode()

    def create(self, options: dict, *, origin: str = ORIGIN, rk: bool = True) -> dict:
        self.user_handle = _b64decode(options["user"]["id"])
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        attestation = cbor2.dumps(
            {"fmt": "none", "attStmt": {}, "authData": self._auth_data(attested=True)}
        )
        return {
            "id": self.id,
            "rawId": self.id,
            "type": "public-key",
            "clientExtensionResults": {"credProps": {"rk": rk}},
            "response": {
                "clientDataJSON": bytes_to_base64url(client_data),
                "attestationObject": bytes_to_base64url(attestation),
                "transports": ["internal", "made-up"],
            },
        }

    def get(self, options: dict, *, origin: str = ORIGIN, bump: int = 1) -> dict:
        self.sign_count += bump
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        auth_data = self._auth_data(attested=False)
        signature = self.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        response = {
            "clientDataJSON": bytes_to_base64url(client_data),
            "authenticatorData": bytes_to_base64url(auth_data),
            "signature": bytes_to_base64url(signature),
        }
        if self.user_handle is not None:
            response["userHandle"] = bytes_to_base64url(self.user_handle)
        return {
            "id": self.id,
            "rawId": self.id,
            "type": "public-key",
            "response": response,
            "clientExtensionResults": {},
        }


def _b64decode(value: str) -> bytes:
    from webauthn.helpers import base64url_to_bytes

    return base64url_to_bytes(value)


def post_json(client: Client, url: str, data=None, **extra):
    body = data if isinstance(data, bytes) else json.dumps(data or {})
    return client.post(url, data=body, content_type="application/json", **extra)


def register(client: Client, authenticator: SoftAuthenticator, name: str = "Laptop"):
    options = post_json(client, REGISTER_OPTIONS).json()
    return post_json(
        client, REGISTER_VERIFY, {"credential": authenticator.create(options), "name": name}
    )


@pytest.fixture
def enrolled(client):
    """A user with one registered passkey, then signed out; returns (user, authenticator)."""
    user = UserFactory()
    sign_in_two_step(client, user)
    authenticator = SoftAuthenticator()
    assert register(client, authenticator).status_code == 200
    client.logout()
    return user, authenticator


def passkey_sign_in(
    client: Client, authenticator: SoftAuthenticator, next_path: str = "", **kwargs
):
    options = post_json(client, LOGIN_OPTIONS).json()
    credential = authenticator.get(options, **kwargs)
    return post_json(client, LOGIN_VERIFY, {"credential": credential, "next": next_path})


def last_failure_reason() -> str:
    return AuditEvent.objects.filter(event="passkey_login_failed").latest("at").details["reason"]


# --- the relying party ---


def test_passkey_relying_party_comes_from_the_issuer(settings):
    settings.IDP_ISSUER = "https://id.example.com:8443/tenant"

    assert passkey_relying_party() == ("id.example.com", "https://id.example.com:8443")


def test_passkey_user_handle_is_stable_and_not_the_email():
    user = UserFactory()

    assert passkey_user_handle(user=user) == passkey_user_handle(user=user)
    assert user.email.encode() not in passkey_user_handle(user=user)
    assert len(passkey_user_handle(user=user)) == 32


@pytest.mark.parametrize(
    ("stored", "presented", "ok"),
    [(0, 0, True), (0, 1, True), (5, 6, True), (5, 5, False), (5, 4, False), (5, 0, False)],
)
def test_passkey_sign_count_ok_requires_a_growing_counter(stored, presented, ok):
    assert passkey_sign_count_ok(stored=stored, presented=presented) is ok


# --- registration ---


def test_register_options_need_a_signed_in_user(client):
    response = post_json(client, REGISTER_OPTIONS)

    assert response.status_code == 403
    assert "error" in response.json()


def test_register_verify_needs_a_signed_in_user(client):
    response = post_json(client, REGISTER_VERIFY, {"credential": {}})

    assert response.status_code == 403


def test_register_options_are_for_this_rp_and_exclude_known_passkeys(client, enrolled):
    user, authenticator = enrolled
    sign_in_two_step(client, user)

    options = post_json(client, REGISTER_OPTIONS).json()

    assert options["rp"] == {"id": RP_ID, "name": "Portcullis"}
    assert options["user"]["name"] == user.email
    assert options["attestation"] == "none"
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert [c["id"] for c in options["excludeCredentials"]] == [authenticator.id]
    assert options["extensions"] == {"credProps": True}


def test_register_stores_the_public_key_and_audits(client):
    user = UserFactory()
    sign_in_two_step(client, user)
    authenticator = SoftAuthenticator()

    response = register(client, authenticator, name="  Work   laptop ")

    assert response.status_code == 200
    assert response.json() == {"redirect": "/account"}
    passkey = WebAuthnCredential.objects.get(user=user)
    assert passkey.credential_id == authenticator.id
    assert passkey.name == "Work laptop"
    assert passkey.transports == ["internal"]
    assert passkey.is_discoverable is True
    assert AuditEvent.objects.filter(event="passkey_registered", user=user).exists()


def test_register_rejects_a_response_to_another_challenge(client):
    client.force_login(UserFactory())
    authenticator = SoftAuthenticator()
    post_json(client, REGISTER_OPTIONS)
    forged = {
        "user": {"id": bytes_to_base64url(b"x" * 32)},
        "challenge": bytes_to_base64url(b"not the challenge"),
    }

    response = post_json(client, REGISTER_VERIFY, {"credential": authenticator.create(forged)})

    assert response.status_code == 400
    assert "error" in response.json()
    assert not WebAuthnCredential.objects.exists()


def test_register_rejects_a_replayed_response(client):
    user = UserFactory()
    sign_in_two_step(client, user)
    options = post_json(client, REGISTER_OPTIONS).json()
    credential = SoftAuthenticator().create(options)
    assert post_json(client, REGISTER_VERIFY, {"credential": credential}).status_code == 200
    WebAuthnCredential.objects.all().delete()

    replay = post_json(client, REGISTER_VERIFY, {"credential": credential})

    assert replay.status_code == 400
    assert not WebAuthnCredential.objects.exists()


def test_register_rejects_an_expired_challenge(client):
    client.force_login(UserFactory())
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        options = post_json(client, REGISTER_OPTIONS).json()
        traveller.shift(timedelta(minutes=5, seconds=1))
        response = post_json(
            client, REGISTER_VERIFY, {"credential": SoftAuthenticator().create(options)}
        )

    assert response.status_code == 400
    assert "expired" in response.json()["error"]


def test_register_rejects_another_origin(client):
    client.force_login(UserFactory())
    options = post_json(client, REGISTER_OPTIONS).json()

    credential = SoftAuthenticator().create(options, origin="https://evil.example")
    response = post_json(client, REGISTER_VERIFY, {"credential": credential})

    assert response.status_code == 400


def test_register_rejects_a_passkey_already_registered(client, enrolled):
    user, authenticator = enrolled
    sign_in_two_step(client, user)

    response = register(client, authenticator)

    assert response.status_code == 400
    assert WebAuthnCredential.objects.count() == 1


def test_register_is_csrf_protected():
    user = UserFactory()
    client = Client(enforce_csrf_checks=True)
    sign_in_two_step(client, user)

    response = post_json(client, REGISTER_OPTIONS)

    assert response.status_code == 403


def test_register_accepts_the_token_rendered_into_the_page():
    user = UserFactory()
    client = Client(enforce_csrf_checks=True)
    sign_in_two_step(client, user)
    page = client.get("/account").content.decode()
    section = page.split("data-passkey-register", 1)[1]
    token = section.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]

    response = post_json(client, REGISTER_OPTIONS, HTTP_X_CSRFTOKEN=token)

    assert response.status_code == 200


# --- removal and the account page ---


def test_account_page_lists_passkeys_with_a_remove_form(client, enrolled):
    user, _authenticator = enrolled
    sign_in_two_step(client, user)

    page = client.get("/account").content.decode()

    passkey = WebAuthnCredential.objects.get(user=user)
    assert "Laptop" in page
    assert f'action="/account/passkeys/{passkey.pk}/remove"' in page
    assert "never used" in page
    assert "js/passkeys.js" in page
    assert "<script>" not in page


def test_remove_deletes_your_own_passkey(client, enrolled):
    user, _authenticator = enrolled
    sign_in_two_step(client, user)
    passkey = WebAuthnCredential.objects.get(user=user)

    response = client.post(f"/account/passkeys/{passkey.pk}/remove")

    assert response.status_code == 302
    assert not WebAuthnCredential.objects.exists()
    assert AuditEvent.objects.filter(event="passkey_removed", user=user).exists()


def test_remove_cannot_delete_another_users_passkey(client, enrolled):
    _owner, _authenticator = enrolled
    client.force_login(UserFactory())
    passkey = WebAuthnCredential.objects.get()

    response = client.post(f"/account/passkeys/{passkey.pk}/remove")

    assert response.status_code == 302
    assert WebAuthnCredential.objects.filter(pk=passkey.pk).exists()


def test_remove_needs_a_signed_in_user(client, enrolled):
    passkey = WebAuthnCredential.objects.get()

    response = client.post(f"/account/passkeys/{passkey.pk}/remove")

    assert response.status_code == 302
    assert response["Location"].startswith("/login")
    assert WebAuthnCredential.objects.exists()


def test_remove_refuses_get(client, enrolled):
    user, _authenticator = enrolled
    sign_in_two_step(client, user)

    response = client.get(f"/account/passkeys/{WebAuthnCredential.objects.get().pk}/remove")

    assert response.status_code == 405


# --- passwordless sign-in ---


def test_login_page_offers_a_passkey_button_hidden_until_js(client):
    page = client.get("/login?next=/account/profile").content.decode()

    assert "data-passkey-login" in page
    assert 'data-next="/account/profile"' in page
    assert "js/passkeys.js" in page


def test_login_options_ask_for_a_discoverable_passkey(client):
    options = post_json(client, LOGIN_OPTIONS).json()

    assert options["rpId"] == RP_ID
    assert options["allowCredentials"] == []
    assert options["userVerification"] == "preferred"
    assert options["challenge"]


def test_login_with_a_user_verified_passkey_is_two_factors(client, enrolled):
    user, authenticator = enrolled

    response = passkey_sign_in(client, authenticator)

    assert response.status_code == 200
    assert response.json() == {"redirect": "/account"}
    assert client.session["_auth_user_id"] == str(user.pk)
    assert client.session[SESSION_AUTH_METHODS] == ["hwk", "mfa"]
    assert SSOSession.objects.latest("created_at").amr == ["hwk", "mfa"]
    passkey = WebAuthnCredential.objects.get()
    assert passkey.sign_count == 1
    assert passkey.last_used_at is not None
    assert AuditEvent.objects.filter(event="passkey_login_succeeded", user=user).exists()


def test_login_honours_a_safe_next_only(client, enrolled):
    _user, authenticator = enrolled

    safe = passkey_sign_in(client, authenticator, next_path="/authorize?client_id=x")
    client.logout()
    unsafe = passkey_sign_in(client, authenticator, next_path="//evil.example/")

    assert safe.json() == {"redirect": "/authorize?client_id=x"}
    assert unsafe.json() == {"redirect": "/account"}


def test_login_without_user_verification_is_one_factor(client, enrolled):
    _user, authenticator = enrolled
    authenticator.user_verified = False

    response = passkey_sign_in(client, authenticator)

    assert response.json() == {"redirect": "/account"}
    assert client.session[SESSION_AUTH_METHODS] == ["hwk"]


def test_login_without_user_verification_asks_for_the_second_step(client, enrolled):
    user, authenticator = enrolled
    TOTPDevice.objects.create(
        user=user, secret_encrypted=encrypt(b"JBSWY3DPEHPK3PXP"), confirmed_at=timezone.now()
    )
    authenticator.user_verified = False

    response = passkey_sign_in(client, authenticator, next_path="/account/profile")

    assert response.json() == {"redirect": "/login/mfa?next=%2Faccount%2Fprofile"}
    assert "_auth_user_id" not in client.session
    assert client.session[mfa.MFA_PENDING]["first_factor"] == ["hwk"]


def test_login_rejects_an_unknown_passkey(client, enrolled):
    user, _authenticator = enrolled

    response = passkey_sign_in(client, SoftAuthenticator())

    assert response.status_code == 400
    assert last_failure_reason() == "unknown_credential"
    assert "error" in response.json()
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(event="passkey_login_failed").exists()


def test_login_rejects_a_replayed_assertion(client, enrolled):
    _user, authenticator = enrolled
    options = post_json(client, LOGIN_OPTIONS).json()
    credential = authenticator.get(options)
    assert post_json(client, LOGIN_VERIFY, {"credential": credential}).status_code == 200
    client.logout()
    post_json(client, LOGIN_OPTIONS)  # a fresh challenge, which the old assertion doesn't sign

    replay = post_json(client, LOGIN_VERIFY, {"credential": credential})

    assert replay.status_code == 400
    assert "challenge" in last_failure_reason()
    assert "_auth_user_id" not in client.session


def test_login_challenge_is_single_use(client, enrolled):
    _user, authenticator = enrolled
    options = post_json(client, LOGIN_OPTIONS).json()
    bad = authenticator.get(options, origin="https://evil.example")
    assert post_json(client, LOGIN_VERIFY, {"credential": bad}).status_code == 400

    # A correct answer to the same challenge is too late now.
    response = post_json(client, LOGIN_VERIFY, {"credential": authenticator.get(options)})

    assert response.status_code == 400
    assert "expired" in response.json()["error"]


def test_login_rejects_an_expired_challenge(client, enrolled):
    _user, authenticator = enrolled
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        options = post_json(client, LOGIN_OPTIONS).json()
        traveller.shift(timedelta(minutes=6))
        response = post_json(client, LOGIN_VERIFY, {"credential": authenticator.get(options)})

    assert response.status_code == 400


def test_login_rejects_a_counter_that_goes_backwards(client, enrolled):
    _user, authenticator = enrolled
    WebAuthnCredential.objects.update(sign_count=10)
    authenticator.sign_count = 4

    response = passkey_sign_in(client, authenticator)

    assert response.status_code == 400
    assert "sign count" in last_failure_reason()
    assert WebAuthnCredential.objects.get().sign_count == 10
    assert "_auth_user_id" not in client.session


def test_login_rejects_a_counter_that_stands_still(client, enrolled):
    _user, authenticator = enrolled
    assert passkey_sign_in(client, authenticator).status_code == 200
    client.logout()

    response = passkey_sign_in(client, authenticator, bump=0)

    assert response.status_code == 400
    assert "sign count" in last_failure_reason()


def test_login_accepts_authenticators_without_a_counter(client, enrolled):
    _user, authenticator = enrolled

    first = passkey_sign_in(client, authenticator, bump=0)
    client.logout()
    second = passkey_sign_in(client, authenticator, bump=0)

    assert (first.status_code, second.status_code) == (200, 200)


def test_login_rejects_another_origin(client, enrolled):
    _user, authenticator = enrolled

    response = passkey_sign_in(client, authenticator, origin="http://127.0.0.1:8000")

    assert response.status_code == 400


def test_login_rejects_another_rp_id(client, enrolled):
    _user, authenticator = enrolled
    authenticator.rp_id = "evil.example"

    response = passkey_sign_in(client, authenticator)

    assert response.status_code == 400


def test_login_rejects_a_mismatched_user_handle(client, enrolled):
    _user, authenticator = enrolled
    authenticator.user_handle = passkey_user_handle(user=UserFactory())

    response = passkey_sign_in(client, authenticator)

    assert response.status_code == 400
    assert last_failure_reason() == "user_handle_mismatch"


def test_login_rejects_a_disabled_account(client, enrolled):
    user, authenticator = enrolled
    user.is_active = False
    user.save(update_fields=["is_active"])

    response = passkey_sign_in(client, authenticator)

    assert response.status_code == 400


def test_login_rejects_a_tampered_signature(client, enrolled):
    _user, authenticator = enrolled
    options = post_json(client, LOGIN_OPTIONS).json()
    credential = authenticator.get(options)
    credential["response"]["signature"] = bytes_to_base64url(b"\x30\x06\x02\x01\x01\x02\x01\x01")

    response = post_json(client, LOGIN_VERIFY, {"credential": credential})

    assert response.status_code == 400


HOSTILE_BODIES = [
    b"",
    b"not json",
    b"\xff\xfe\x00garbage",
    b"[]",
    b"null",
    b'"a string"',
    b"[" * 50_000 + b"]" * 50_000,
    json.dumps({"credential": "a string"}).encode(),
    json.dumps({"credential": []}).encode(),
    json.dumps({"credential": {"id": 5}}).encode(),
    json.dumps(
        {"credential": {"id": "AA", "rawId": "AA", "type": "public-key", "response": "nope"}}
    ).encode(),
    json.dumps(
        {
            "credential": {
                "id": "AA",
                "rawId": "AA",
                "type": "public-key",
                "response": {"clientDataJSON": 1, "authenticatorData": [], "signature": {}},
            }
        }
    ).encode(),
    json.dumps(
        {
            "credential": {
                "id": "!!",
                "rawId": "!!",
                "type": "public-key",
                "response": {
                    "clientDataJSON": "%%%",
                    "authenticatorData": "@",
                    "signature": "*",
                    "userHandle": "???",
                },
            }
        }
    ).encode(),
    json.dumps(
        {"credential": {"id": "AA", "rawId": "AA", "type": "other", "response": {}}}
    ).encode(),
    json.dumps({"credential": {}, "next": ["not", "a", "path"]}).encode(),
    json.dumps({"credential": {}, "padding": "x" * 70_000}).encode(),
]


@pytest.mark.parametrize("body", HOSTILE_BODIES, ids=range(len(HOSTILE_BODIES)))
def test_login_verify_answers_hostile_bodies_with_a_clean_400(client, enrolled, body):
    post_json(client, LOGIN_OPTIONS)

    response = post_json(client, LOGIN_VERIFY, body)

    assert response.status_code == 400
    assert isinstance(response.json()["error"], str)


@pytest.mark.parametrize("body", HOSTILE_BODIES, ids=range(len(HOSTILE_BODIES)))
def test_register_verify_answers_hostile_bodies_with_a_clean_400(client, body):
    client.force_login(UserFactory())
    post_json(client, REGISTER_OPTIONS)

    response = post_json(client, REGISTER_VERIFY, body)

    assert response.status_code == 400
    assert isinstance(response.json()["error"], str)


def test_register_verify_survives_a_malformed_attestation(client):
    client.force_login(UserFactory())
    options = post_json(client, REGISTER_OPTIONS).json()
    credential = SoftAuthenticator().create(options)
    credential["response"]["attestationObject"] = bytes_to_base64url(b"\xa1\x63fmt\xff")

    response = post_json(client, REGISTER_VERIFY, {"credential": credential})

    assert response.status_code == 400


def test_login_verify_refuses_get(client):
    assert client.get(LOGIN_VERIFY).status_code == 405


def test_login_failures_are_throttled(client, enrolled):
    _user, authenticator = enrolled
    for _ in range(idp_settings.THROTTLE_ACCOUNT_IP_FREE):
        assert (
            passkey_sign_in(client, authenticator, origin="https://evil.example").status_code == 400
        )

    response = passkey_sign_in(client, authenticator)

    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert "error" in response.json()
    assert "_auth_user_id" not in client.session


# --- the second step ---


def sign_in_with_password(client: Client, user, next_path: str = "") -> None:
    data = {"email": user.email, "password": PASSWORD}
    if next_path:
        data["next"] = next_path
    response = client.post("/login", data)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/mfa")


def test_mfa_page_offers_the_users_passkeys(client, enrolled):
    user, _authenticator = enrolled
    sign_in_with_password(client, user)

    page = client.get("/login/mfa").content.decode()

    assert "data-passkey-mfa" in page
    assert "/login/mfa/passkey/verify" in page


def test_mfa_options_list_the_pending_users_passkeys(client, enrolled):
    user, authenticator = enrolled
    WebAuthnCredential.objects.create(user=UserFactory(), credential_id="b3RoZXI", public_key="AA")
    sign_in_with_password(client, user)

    options = post_json(client, MFA_OPTIONS).json()

    assert [c["id"] for c in options["allowCredentials"]] == [authenticator.id]


def test_mfa_options_need_a_sign_in_in_progress(client):
    response = post_json(client, MFA_OPTIONS)

    assert response.status_code == 400
    assert "error" in response.json()


def test_mfa_with_a_passkey_completes_the_sign_in(client, enrolled):
    user, authenticator = enrolled
    sign_in_with_password(client, user, next_path="/account/profile")
    options = post_json(client, MFA_OPTIONS).json()

    response = post_json(
        client, MFA_VERIFY, {"credential": authenticator.get(options), "next": "/account/profile"}
    )

    assert response.json() == {"redirect": "/account/profile"}
    assert client.session["_auth_user_id"] == str(user.pk)
    assert client.session[SESSION_AUTH_METHODS] == ["pwd", "hwk", "mfa"]
    assert mfa.MFA_PENDING not in client.session


def test_mfa_rejects_another_users_passkey(client, enrolled):
    _owner, authenticator = enrolled
    other = UserFactory()
    TOTPDevice.objects.create(
        user=other, secret_encrypted=encrypt(b"JBSWY3DPEHPK3PXP"), confirmed_at=timezone.now()
    )
    sign_in_with_password(client, other)
    options = post_json(client, MFA_OPTIONS).json()

    response = post_json(client, MFA_VERIFY, {"credential": authenticator.get(options)})

    assert response.status_code == 400
    assert "_auth_user_id" not in client.session


def test_mfa_refuses_the_first_factor_passkey_again_without_user_verification(client, enrolled):
    user, authenticator = enrolled
    TOTPDevice.objects.create(
        user=user, secret_encrypted=encrypt(b"JBSWY3DPEHPK3PXP"), confirmed_at=timezone.now()
    )
    authenticator.user_verified = False
    assert passkey_sign_in(client, authenticator).json()["redirect"] == "/login/mfa"
    options = post_json(client, MFA_OPTIONS).json()

    response = post_json(client, MFA_VERIFY, {"credential": authenticator.get(options)})

    assert response.status_code == 400
    assert "_auth_user_id" not in client.session


def test_mfa_step_up_for_a_signed_in_user(client, enrolled):
    user, authenticator = enrolled
    sign_in_two_step(client, user)
    session = client.session
    session[SESSION_AUTH_METHODS] = ["pwd"]
    session.save()
    options = post_json(client, MFA_OPTIONS).json()

    response = post_json(client, MFA_VERIFY, {"credential": authenticator.get(options)})

    assert response.status_code == 200
    assert client.session[SESSION_AUTH_METHODS] == ["pwd", "hwk", "mfa"]


def test_mfa_verify_answers_garbage_with_a_clean_400(client, enrolled):
    user, _authenticator = enrolled
    sign_in_with_password(client, user)
    post_json(client, MFA_OPTIONS)

    response = post_json(client, MFA_VERIFY, b"\x00\xff{")

    assert response.status_code == 400
    assert "error" in response.json()
