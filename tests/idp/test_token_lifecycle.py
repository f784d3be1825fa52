"""Refresh rotation and reuse detection, client credentials, revocation, introspection,
pruning (RFC 6749 §4.4 and §6, RFC 7009, RFC 7662, RFC 9700 §4.14.2)."""

import base64
import logging
import time
from datetime import timedelta
from urllib.parse import urlencode

import pytest
import time_machine
from django.utils import timezone
from joserfc import jwt
from joserfc.jwk import KeySet

from idp.models import AuthorizationCode, RefreshToken, Token
from idp.services import keys
from idp.services.prune import expired_records_prune
from tests.idp.conftest import make_rp, query_of

pytestmark = pytest.mark.django_db


def form_post(http, path: str, data: dict, relying_party=None, **headers):
    if relying_party is not None:
        headers.update(relying_party.basic_auth())
    return http.post(
        path, urlencode(data), content_type="application/x-www-form-urlencoded", **headers
    )


@pytest.fixture
def offline_rp(db):
    return make_rp(skip_consent=True)


def first_tokens(http, relying_party, scope="openid profile email offline_access") -> dict:
    response = http.get("/authorize", relying_party.authorize_params(scope=scope))
    body = relying_party.redeem(http, query_of(response["Location"])["code"]).json()
    assert "access_token" in body, body
    return body


def refresh(http, relying_party, refresh_token: str, **extra):
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}
    return form_post(http, "/token", data, relying_party)


def userinfo_status(http, access_token: str) -> int:
    return http.get("/userinfo", HTTP_AUTHORIZATION=f"Bearer {access_token}").status_code


# --- refresh tokens ---


def test_refresh_token_only_with_offline_access(signed_in, offline_rp):
    assert "refresh_token" in first_tokens(signed_in, offline_rp)
    assert "refresh_token" not in first_tokens(signed_in, offline_rp, scope="openid email")


def test_no_refresh_token_for_a_client_without_the_grant(signed_in):
    no_refresh = make_rp(skip_consent=True, grant_types=["authorization_code"])

    assert "refresh_token" not in first_tokens(signed_in, no_refresh)


def test_refresh_rotates_and_returns_a_consistent_id_token(signed_in, offline_rp, user):
    first = first_tokens(signed_in, offline_rp)

    response = refresh(signed_in, offline_rp, first["refresh_token"])

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert body["refresh_token"] != first["refresh_token"]
    assert body["access_token"] != first["access_token"]
    key_set = KeySet.import_key_set(signed_in.get("/jwks.json").json())
    old = jwt.decode(first["id_token"], key_set).claims
    new = jwt.decode(body["id_token"], key_set).claims
    assert (new["iss"], new["sub"], new["aud"]) == (old["iss"], old["sub"], old["aud"])
    assert new["auth_time"] == old["auth_time"]
    assert "nonce" not in new
    assert userinfo_status(signed_in, body["access_token"]) == 200


def test_a_used_refresh_token_cannot_be_used_again(signed_in, offline_rp):
    first = first_tokens(signed_in, offline_rp)
    refresh(signed_in, offline_rp, first["refresh_token"])

    replay = refresh(signed_in, offline_rp, first["refresh_token"])

    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"


def test_replay_revokes_the_whole_family_and_is_logged(signed_in, offline_rp, caplog):
    caplog.set_level(logging.WARNING, logger="portcullis.idp")
    first = first_tokens(signed_in, offline_rp)
    second = refresh(signed_in, offline_rp, first["refresh_token"]).json()

    refresh(signed_in, offline_rp, first["refresh_token"])  # the attacker's replay

    legitimate = refresh(signed_in, offline_rp, second["refresh_token"])
    assert legitimate.json()["error"] == "invalid_grant"
    assert userinfo_status(signed_in, second["access_token"]) == 401
    assert userinfo_status(signed_in, first["access_token"]) == 401
    assert "refresh_token_family_revoked reason=reuse" in caplog.text
    assert RefreshToken.objects.filter(revoked_at__isnull=True).count() == 0


def test_family_revocation_is_visible_to_an_operator_in_the_admin(signed_in, offline_rp):
    from django.test import Client

    from tests.factories import UserFactory

    first = first_tokens(signed_in, offline_rp)
    refresh(signed_in, offline_rp, first["refresh_token"])
    refresh(signed_in, offline_rp, first["refresh_token"])
    operator = Client()
    operator.force_login(UserFactory(is_staff=True, is_superuser=True))

    page = operator.get("/admin/idp/refreshtoken/", {"revoked_at__isnull": "False"})

    assert page.status_code == 200
    assert RefreshToken.objects.first().family in page.content.decode()


def test_refresh_token_is_bound_to_its_client(signed_in, offline_rp):
    other = make_rp(skip_consent=True)
    first = first_tokens(signed_in, offline_rp)

    response = refresh(signed_in, other, first["refresh_token"])

    assert response.json()["error"] == "invalid_grant"
    assert refresh(signed_in, offline_rp, first["refresh_token"]).status_code == 200


def test_refresh_may_narrow_the_scope_but_not_widen_it(signed_in, offline_rp):
    first = first_tokens(signed_in, offline_rp)

    narrowed = refresh(signed_in, offline_rp, first["refresh_token"], scope="openid email")
    assert narrowed.json()["scope"] == "openid email"
    stored = RefreshToken.objects.order_by("-issued_at").first()
    assert stored.scope == "openid profile email offline_access"

    widened = refresh(signed_in, offline_rp, narrowed.json()["refresh_token"],
                      scope="openid phone")  # fmt: skip
    assert widened.json()["error"] == "invalid_scope"


def test_refresh_token_expires_when_idle(signed_in, offline_rp):
    first = first_tokens(signed_in, offline_rp)

    with time_machine.travel(time.time() + 15 * 86400, tick=False):
        response = refresh(signed_in, offline_rp, first["refresh_token"])

    assert response.json()["error"] == "invalid_grant"


def test_refresh_family_has_an_absolute_lifetime(signed_in):
    short = make_rp(skip_consent=True, refresh_token_lifetime=3600)
    token = first_tokens(signed_in, short)["refresh_token"]

    with time_machine.travel(time.time() + 1800, tick=False):
        token = refresh(signed_in, short, token).json()["refresh_token"]
    with time_machine.travel(time.time() + 3601, tick=False):
        response = refresh(signed_in, short, token)

    assert response.json()["error"] == "invalid_grant"


def test_refresh_tokens_are_stored_only_as_hashes(signed_in, offline_rp):
    body = first_tokens(signed_in, offline_rp)

    assert body["refresh_token"] not in str(list(RefreshToken.objects.values()))


def test_refresh_of_a_deactivated_user_fails(signed_in, offline_rp, user):
    first = first_tokens(signed_in, offline_rp)
    user.is_active = False
    user.save()

    assert refresh(signed_in, offline_rp, first["refresh_token"]).status_code == 400


# --- client credentials ---


@pytest.fixture
def service(db):
    return make_rp(
        name="Batch job", grant_types=["client_credentials"], response_types=[],
        redirect_uris=["https://unused.example/cb"], scopes=["profile", "email"],
        id_token_signed_response_alg="ES256",
    )  # fmt: skip


def test_client_credentials_gives_a_jwt_access_token_only(client, service):
    response = form_post(client, "/token", {"grant_type": "client_credentials"}, service)

    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["scope"] == "profile email"
    token = jwt.decode(body["access_token"], KeySet.import_key_set(client.get("/jwks.json").json()))
    assert token.header["typ"] == "at+jwt"
    assert token.header["alg"] == "ES256"
    assert token.claims["sub"] == service.client_id
    assert token.claims["client_id"] == service.client_id


def test_client_credentials_with_a_narrower_scope(client, service):
    response = form_post(
        client, "/token", {"grant_type": "client_credentials", "scope": "email"}, service
    )

    assert response.json()["scope"] == "email"


def test_client_credentials_refused_to_a_client_without_the_grant(client, offline_rp):
    response = form_post(client, "/token", {"grant_type": "client_credentials"}, offline_rp)

    assert response.json()["error"] == "unauthorized_client"


def test_client_credentials_with_a_wrong_secret(client, service):
    service.secret = "wrong"

    response = form_post(client, "/token", {"grant_type": "client_credentials"}, service)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


# --- revocation (RFC 7009) ---


def test_revoking_an_access_token(signed_in, offline_rp):
    body = first_tokens(signed_in, offline_rp)

    response = form_post(signed_in, "/revoke", {"token": body["access_token"]}, offline_rp)

    assert response.status_code == 200
    assert userinfo_status(signed_in, body["access_token"]) == 401
    assert refresh(signed_in, offline_rp, body["refresh_token"]).status_code == 200


def test_revoking_a_refresh_token_revokes_its_family(signed_in, offline_rp):
    body = first_tokens(signed_in, offline_rp)

    response = form_post(
        signed_in, "/revoke",
        {"token": body["refresh_token"], "token_type_hint": "refresh_token"}, offline_rp,
    )  # fmt: skip

    assert response.status_code == 200
    assert refresh(signed_in, offline_rp, body["refresh_token"]).status_code == 400
    assert userinfo_status(signed_in, body["access_token"]) == 401


def test_revoking_an_unknown_token_is_still_200(client, offline_rp):
    response = form_post(client, "/revoke", {"token": "never-issued"}, offline_rp)

    assert response.status_code == 200


def test_revocation_needs_client_authentication(client):
    response = form_post(client, "/revoke", {"token": "x"})

    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_client"


def test_a_client_cannot_revoke_another_clients_token(signed_in, offline_rp):
    other = make_rp(skip_consent=True)
    body = first_tokens(signed_in, offline_rp)

    response = form_post(signed_in, "/revoke", {"token": body["access_token"]}, other)

    assert response.status_code == 400
    assert userinfo_status(signed_in, body["access_token"]) == 200


def test_unsupported_token_type_hint(client, offline_rp):
    response = form_post(
        client, "/revoke", {"token": "x", "token_type_hint": "id_token"}, offline_rp
    )

    assert response.json()["error"] == "unsupported_token_type"


# --- introspection (RFC 7662) ---


@pytest.fixture
def api(db):
    return make_rp(
        name="Orders API", grant_types=["client_credentials"], response_types=[],
        redirect_uris=["https://api.example/cb"], scopes=[], is_resource_server=True,
    )  # fmt: skip


def introspect(http, caller, token: str) -> dict:
    response = form_post(http, "/introspect", {"token": token}, caller)
    assert response.status_code == 200, response.content
    assert "no-store" in response["Cache-Control"]
    return response.json()


def test_introspection_of_an_active_access_token(signed_in, offline_rp, api, user):
    body = first_tokens(signed_in, offline_rp)

    info = introspect(signed_in, api, body["access_token"])

    assert info["active"] is True
    assert info["client_id"] == offline_rp.client_id
    assert info["sub"] == str(user.subject)
    assert info["scope"] == "openid profile email offline_access"
    assert info["token_type"] == "Bearer"
    assert info["exp"] > time.time()


@pytest.mark.parametrize("token", ["unknown", "", "x" * 9000])
def test_introspection_of_unknown_tokens_is_inactive(client, api, token):
    response = form_post(client, "/introspect", {"token": token}, api)

    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert response.json() == {"active": False}


def test_introspection_of_expired_and_revoked_tokens_is_inactive(signed_in, offline_rp, api):
    body = first_tokens(signed_in, offline_rp)
    with time_machine.travel(time.time() + 601, tick=False):
        assert introspect(signed_in, api, body["access_token"]) == {"active": False}

    form_post(signed_in, "/revoke", {"token": body["access_token"]}, offline_rp)

    assert introspect(signed_in, api, body["access_token"]) == {"active": False}


def test_introspection_rejects_what_a_revoked_key_signed(signed_in, offline_rp, api):
    body = first_tokens(signed_in, offline_rp)

    keys.signing_key_revoke(kid=keys.key_ring().active["RS256"])

    assert introspect(signed_in, api, body["access_token"]) == {"active": False}


def test_introspection_never_shows_another_clients_token_to_a_non_resource_server(
    signed_in, offline_rp
):
    other = make_rp(skip_consent=True)
    body = first_tokens(signed_in, offline_rp)

    assert introspect(signed_in, other, body["access_token"]) == {"active": False}
    assert introspect(signed_in, offline_rp, body["access_token"])["active"] is True


def test_introspection_needs_client_authentication(client):
    response = form_post(
        client, "/introspect", {"token": "x"},
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"nobody:nothing").decode(),
    )  # fmt: skip

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_opaque_access_tokens_work_at_userinfo_and_introspection(signed_in, api):
    opaque = make_rp(skip_consent=True, access_token_format="opaque")
    body = first_tokens(signed_in, opaque)

    assert body["access_token"].count(".") == 0
    assert userinfo_status(signed_in, body["access_token"]) == 200
    assert introspect(signed_in, api, body["access_token"])["active"] is True


# --- pruning ---


def test_pruning_removes_only_what_can_never_be_valid_again(signed_in, offline_rp):
    first_tokens(signed_in, offline_rp)
    later = timezone.now() + timedelta(days=31)

    live = expired_records_prune(now=timezone.now())
    assert live == {"access_tokens": 0, "refresh_tokens": 0, "authorization_codes": 0}
    counts = expired_records_prune(now=later, batch_size=1)

    assert counts == {"access_tokens": 1, "refresh_tokens": 1, "authorization_codes": 1}
    assert not Token.objects.exists()
    assert not RefreshToken.objects.exists()
    assert not AuthorizationCode.objects.exists()


# --- resource indicators (RFC 8707) ---

ORDERS, BILLING = "https://orders.example/api", "https://billing.example/api"


def audience(http, access_token: str):
    key_set = KeySet.import_key_set(http.get("/jwks.json").json())
    return jwt.decode(access_token, key_set).claims["aud"]


@pytest.fixture
def api_client(db):
    return make_rp(
        name="Reports", grant_types=["client_credentials"], response_types=[],
        redirect_uris=["https://unused.example/cb"], scopes=["profile"],
        resources=[ORDERS, BILLING],
    )  # fmt: skip


def test_client_credentials_token_for_an_allowed_resource(client, api_client):
    response = client.post(
        "/token", f"grant_type=client_credentials&resource={ORDERS}&resource={BILLING}",
        content_type="application/x-www-form-urlencoded", **api_client.basic_auth(),
    )  # fmt: skip

    assert response.status_code == 200
    assert audience(client, response.json()["access_token"]) == [ORDERS, BILLING]


def test_resource_outside_the_allow_list_is_invalid_target(client, api_client):
    response = form_post(
        client, "/token",
        {"grant_type": "client_credentials", "resource": "https://evil.example/"}, api_client,
    )  # fmt: skip

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"


def test_default_audience_without_resource(client, api_client):
    body = form_post(client, "/token", {"grant_type": "client_credentials"}, api_client).json()

    assert audience(client, body["access_token"]) == "http://127.0.0.1:8000"


def test_code_flow_resource_becomes_the_audience_and_may_be_narrowed(signed_in):
    app = make_rp(skip_consent=True, resources=[ORDERS, BILLING])
    params = app.authorize_params(resource=ORDERS, scope="openid offline_access")
    code = query_of(signed_in.get("/authorize", params)["Location"])["code"]

    body = app.redeem(signed_in, code).json()
    assert audience(signed_in, body["access_token"]) == ORDERS

    widened = refresh(signed_in, app, body["refresh_token"], resource=BILLING)
    assert widened.json()["error"] == "invalid_target"


def test_authorization_request_for_a_foreign_resource_is_redirected_invalid_target(signed_in):
    app = make_rp(skip_consent=True, resources=[ORDERS])

    response = signed_in.get("/authorize", app.authorize_params(resource=BILLING))

    assert query_of(response["Location"])["error"] == "invalid_target"


# --- client_credentials JWTs are not recorded (idp.services.tokens) ---


@pytest.fixture
def service_token(client, service) -> str:
    response = form_post(client, "/token", {"grant_type": "client_credentials"}, service)
    return response.json()["access_token"]


def test_client_credentials_jwt_is_not_stored_but_introspects(client, service, service_token, api):
    assert not Token.objects.exists()

    info = introspect(client, api, service_token)

    assert info["active"] is True
    assert info["client_id"] == service.client_id
    assert info["sub"] == service.client_id
    assert info["scope"] == "profile email"
    assert info["token_type"] == "Bearer"
    assert info["exp"] > info["iat"]
    assert info["jti"]


def test_revoking_an_unrecorded_client_credentials_jwt(client, service, service_token, api):
    response = form_post(client, "/revoke", {"token": service_token}, service)

    assert response.status_code == 200
    stored = Token.objects.get()
    assert stored.revoked_at is not None
    assert stored.token_hash != service_token  # a hash, never the token
    assert introspect(client, api, service_token) == {"active": False}
    again = form_post(client, "/revoke", {"token": service_token}, service)
    assert again.status_code == 200
    assert Token.objects.count() == 1


def test_another_client_cannot_revoke_a_client_credentials_jwt(
    client, service, service_token, api, offline_rp
):
    form_post(client, "/revoke", {"token": service_token}, offline_rp)

    assert introspect(client, api, service_token)["active"] is True


def test_client_credentials_jwt_of_a_disabled_client_is_inactive(
    client, service, service_token, api
):
    from clients.services import client_disable

    client_disable(client=service.client)

    assert introspect(client, api, service_token) == {"active": False}


def test_expired_client_credentials_jwt_is_inactive(client, service, service_token, api):
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        assert introspect(client, api, service_token) == {"active": False}


def test_client_credentials_jwt_is_not_a_userinfo_token(client, service_token):
    response = client.get("/userinfo", HTTP_AUTHORIZATION=f"Bearer {service_token}")

    assert response.status_code == 401


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "forged",
    [
        # alg none, a client_credentials-shaped payload: never accepted.
        _b64(b'{"alg":"none","typ":"at+jwt"}') + "." + _b64(b'{"sub":"c","client_id":"c"}') + ".",
        # well-formed but signed by nobody we know
        _b64(b'{"alg":"RS256","typ":"at+jwt","kid":"nope"}') + "." + _b64(b"{}") + "." + "A" * 40,
        "a.b.c",
        "\u00e9t\u00e9.\ufffd.\x7f",
    ],
)
def test_forged_jwts_are_inactive_and_revoking_them_stores_nothing(client, service, api, forged):
    assert introspect(client, api, forged) == {"active": False}

    response = form_post(client, "/revoke", {"token": forged}, service)

    assert response.status_code == 200
    assert not Token.objects.exists()


def test_an_id_token_is_not_a_client_credentials_access_token(signed_in, offline_rp, api):
    body = first_tokens(signed_in, offline_rp)

    assert introspect(signed_in, api, body["id_token"]) == {"active": False}
