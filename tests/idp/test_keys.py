"""Signing keys: lifecycle with a controlled clock, JWKS contents, revocation, encryption."""

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.db import IntegrityError, transaction
from django.test import override_settings
from joserfc import jwt
from joserfc.jwk import KeySet

from idp.conf import idp_settings
from idp.encryption import decrypt
from idp.models import SigningKey
from idp.services import keys

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k"}


def states(alg: str = "RS256") -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for key in SigningKey.objects.filter(alg=alg).order_by("created_at"):
        result.setdefault(key.state, []).append(key.kid)
    return result


def published_kids() -> set[str]:
    return {k["kid"] for k in keys.key_ring().jwks["keys"]}


def test_first_use_creates_one_active_key_per_algorithm():
    ring = keys.key_ring()

    assert set(ring.active) == {"RS256", "ES256", "EdDSA"}
    assert SigningKey.objects.filter(state="active").count() == 3


def test_jwks_publishes_public_halves_with_kid_alg_and_use(client):
    response = client.get("/jwks.json")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert {k["alg"] for k in body["keys"]} == {"RS256", "ES256", "EdDSA"}
    for jwk in body["keys"]:
        assert jwk["use"] == "sig"
        assert jwk["kid"]
        assert not PRIVATE_MEMBERS & set(jwk)
    assert len({k["kid"] for k in body["keys"]}) == len(body["keys"])


def test_kid_is_the_rfc7638_thumbprint():
    keys.key_ring()
    key = SigningKey.objects.get(alg="ES256", state="active")

    assert KeySet.import_key_set({"keys": [key.public_jwk]}).keys[0].thumbprint() == key.kid


def test_jwks_may_be_cached_but_not_past_the_prepublication_window(client):
    response = client.get("/jwks.json")

    max_age = int(response["Cache-Control"].split("max-age=")[1])
    assert "public" in response["Cache-Control"]
    assert 0 < max_age <= idp_settings.KEY_PREPUBLISH_PERIOD.total_seconds()


@override_settings(IDP_JWKS_MAX_AGE=timedelta(days=30))
def test_jwks_max_age_is_capped_by_the_prepublication_window(client):
    response = client.get("/jwks.json")

    assert response["Cache-Control"] == "public, max-age=172800"


def test_jwks_answers_conditional_requests(client):
    first = client.get("/jwks.json")

    second = client.get("/jwks.json", HTTP_IF_NONE_MATCH=first["ETag"])

    assert second.status_code == 304


def test_jwks_refuses_other_methods(client):
    assert client.post("/jwks.json").status_code == 405


def test_lifecycle_publish_promote_retire_delete():
    keys.signing_key_rotate(now=T0)
    first = states()["active"][0]

    # Nothing is due until the pre-publication window before the rotation date.
    assert keys.signing_key_rotate(now=T0 + 27 * DAY) == []
    assert states() == {"active": [first]}

    keys.signing_key_rotate(now=T0 + 28 * DAY)
    upcoming = states()["next"][0]
    assert upcoming in published_kids()
    assert keys.key_ring().active["RS256"] == first

    keys.signing_key_rotate(now=T0 + 30 * DAY)
    assert states() == {"retired": [first], "active": [upcoming]}
    assert keys.key_ring().active["RS256"] == upcoming
    assert {first, upcoming} <= published_kids()

    retired = SigningKey.objects.get(kid=first)
    assert retired.expires_at == T0 + 30 * DAY + timedelta(hours=25)
    keys.signing_key_rotate(now=T0 + 31 * DAY)
    assert first in published_kids()
    keys.signing_key_rotate(now=T0 + 31 * DAY + timedelta(hours=1, seconds=1))
    assert first not in published_kids()
    assert not SigningKey.objects.filter(kid=first).exists()


def test_a_late_next_key_waits_its_full_prepublication_window():
    keys.signing_key_rotate(now=T0)
    first = states()["active"][0]

    # Beat was down: the first run after the due date only publishes the next key.
    keys.signing_key_rotate(now=T0 + 30 * DAY)
    assert states()["active"] == [first]
    assert len(states()["next"]) == 1
    keys.signing_key_rotate(now=T0 + 31 * DAY)
    assert states()["active"] == [first]
    keys.signing_key_rotate(now=T0 + 32 * DAY)
    assert states()["retired"] == [first]


def test_rotation_is_idempotent():
    keys.signing_key_rotate(now=T0)
    keys.signing_key_rotate(now=T0 + 30 * DAY)
    keys.signing_key_rotate(now=T0 + 32 * DAY)
    snapshot = list(SigningKey.objects.values("kid", "state").order_by("kid"))

    for _ in range(3):
        assert keys.signing_key_rotate(now=T0 + 32 * DAY) == []

    assert list(SigningKey.objects.values("kid", "state").order_by("kid")) == snapshot


def test_forced_rotation_promotes_next_and_publishes_a_new_next():
    keys.signing_key_rotate(now=T0)
    keys.signing_key_rotate(now=T0 + 28 * DAY)
    before, es_before = states(), states("ES256")

    keys.signing_key_rotate(now=T0 + 29 * DAY, force=True, algs=["RS256"])

    after = states()
    assert after["active"] == before["next"]
    assert after["retired"] == before["active"]
    assert len(after["next"]) == 1
    assert after["next"] != before["next"]
    assert states("ES256") == es_before  # other algorithms untouched


def test_tokens_keep_verifying_across_a_rotation():
    keys.signing_key_rotate(now=T0)
    token = keys.jwt_sign({"sub": "1"}, alg="ES256")

    keys.signing_key_rotate(now=T0, force=True)

    header, claims = keys.jwt_verify(token)
    assert claims == {"sub": "1"}
    assert keys.key_ring().active["ES256"] != header["kid"]


def test_database_refuses_a_second_active_key_per_algorithm():
    keys.key_ring()
    existing = SigningKey.objects.get(alg="RS256", state="active")

    with pytest.raises(IntegrityError), transaction.atomic():
        SigningKey.objects.create(
            kid="other", alg="RS256", state="active", public_jwk={}, created_at=T0
        )
    assert SigningKey.objects.get(alg="RS256", state="active") == existing


def test_revoke_unpublishes_at_once_and_rejects_what_the_key_signed(client):
    token = keys.jwt_sign({"sub": "1"}, alg="RS256")
    kid = keys.key_ring().active["RS256"]

    keys.signing_key_revoke(kid=kid)

    assert kid not in {k["kid"] for k in client.get("/jwks.json").json()["keys"]}
    with pytest.raises(keys.TokenInvalid):
        keys.jwt_verify(token)
    revoked = SigningKey.objects.get(kid=kid)
    assert revoked.state == "revoked"
    assert revoked.private_key_encrypted == ""


def test_revoking_the_active_key_hands_signing_to_another_key_at_once():
    old = keys.key_ring().active["RS256"]

    keys.signing_key_revoke(kid=old)

    new = keys.key_ring().active["RS256"]
    assert new != old
    header, _ = keys.jwt_verify(keys.jwt_sign({"sub": "1"}, alg="RS256"))
    assert header["kid"] == new


def test_revoking_an_unknown_key_is_an_error():
    with pytest.raises(keys.SigningKeyNotFound):
        keys.signing_key_revoke(kid="nope")


def test_private_keys_are_encrypted_at_rest():
    keys.key_ring()

    for key in SigningKey.objects.all():
        stored = key.private_key_encrypted
        assert "PRIVATE KEY" not in stored
        assert "PRIVATE KEY" not in base64.urlsafe_b64decode(stored + "==").decode("latin-1")
        assert decrypt(stored).startswith(b"-----BEGIN PRIVATE KEY-----")


def test_private_keys_need_the_key_encryption_key():
    keys.key_ring()
    stored = SigningKey.objects.first().private_key_encrypted

    with (
        override_settings(IDP_KEY_ENCRYPTION_KEYS=[Fernet.generate_key().decode()]),
        pytest.raises(InvalidToken),
    ):
        decrypt(stored)


def test_key_encryption_key_rotation():
    old_kek, new_kek = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with override_settings(IDP_KEY_ENCRYPTION_KEYS=[old_kek]):
        token = keys.jwt_sign({"sub": "1"}, alg="EdDSA")
    keys.key_ring_reset()

    with override_settings(IDP_KEY_ENCRYPTION_KEYS=[new_kek, old_kek]):
        assert keys.signing_keys_reencrypt() == 3
    keys.key_ring_reset()
    with override_settings(IDP_KEY_ENCRYPTION_KEYS=[new_kek]):
        keys.jwt_verify(keys.jwt_sign({"sub": "2"}, alg="EdDSA"))
        keys.jwt_verify(token)


@pytest.mark.parametrize(
    "token",
    ["", "a.b.c", "not a jwt", "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", "x" * 20_000, None],
)
def test_jwt_verify_refuses_garbage(token):
    keys.key_ring()

    with pytest.raises(keys.TokenInvalid):
        keys.jwt_verify(token)


def test_jwt_verify_refuses_a_token_signed_by_a_foreign_key_with_our_kid():
    from joserfc.jwk import RSAKey

    kid = keys.key_ring().active["RS256"]
    forged = jwt.encode({"alg": "RS256", "kid": kid}, {"sub": "1"}, RSAKey.generate_key(2048))

    with pytest.raises(keys.TokenInvalid):
        keys.jwt_verify(forged)


def test_jwt_verify_refuses_an_hmac_token_keyed_with_our_public_key():
    """The classic alg confusion attack (RFC 8725 §2.1)."""
    from joserfc.jwk import OctKey

    ring = keys.key_ring()
    kid = ring.active["RS256"]
    public = json.dumps(next(k for k in ring.jwks["keys"] if k["kid"] == kid))
    forged = jwt.encode(
        {"alg": "HS256", "kid": kid}, {"sub": "1"}, OctKey.import_key(public.encode())
    )

    with pytest.raises(keys.TokenInvalid):
        keys.jwt_verify(forged)


def test_jwt_verify_refuses_a_valid_signature_under_another_algorithms_name():
    ring = keys.key_ring()
    token = keys.jwt_sign({"sub": "1"}, alg="ES256")
    header, payload, signature = token.split(".")
    claimed = json.loads(base64.urlsafe_b64decode(header + "=="))
    claimed["kid"] = ring.active["RS256"]
    swapped = base64.urlsafe_b64encode(json.dumps(claimed).encode()).rstrip(b"=").decode()

    with pytest.raises(keys.TokenInvalid):
        keys.jwt_verify(f"{swapped}.{payload}.{signature}")
