"""Regression tests for the findings of the security review (each test names the attack)."""

import base64
import json
from urllib.parse import urlencode

import pytest
from django.test import Client as Browser

from idp.models import RefreshToken
from tests.idp.conftest import REDIRECT_URI, make_rp, query_of, run_concurrently

pytestmark = pytest.mark.django_db


def form(http, path, data, relying_party=None, **headers):
    if relying_party is not None:
        headers.update(relying_party.basic_auth())
    return http.post(path, urlencode(data), content_type="application/x-www-form-urlencoded",
                     **headers)  # fmt: skip


def first_tokens(http, relying_party, **params):
    params.setdefault("scope", "openid offline_access")
    location = http.get("/authorize", relying_party.authorize_params(**params))["Location"]
    return relying_party.redeem(http, query_of(location)["code"]).json()


def test_code_replay_also_revokes_the_refresh_token_family(signed_in, rp):
    code = query_of(signed_in.get("/authorize", rp.authorize_params(
        scope="openid offline_access"))["Location"])["code"]  # fmt: skip
    stolen = rp.redeem(signed_in, code).json()

    rp.redeem(signed_in, code)  # the replay

    data = {"grant_type": "refresh_token", "refresh_token": stolen["refresh_token"]}
    refreshed = form(signed_in, "/token", data, rp)
    assert refreshed.json()["error"] == "invalid_grant"


@pytest.mark.django_db(transaction=True)
def test_concurrent_reuse_of_a_refresh_token_leaves_no_live_token(user):
    from tests.factories import PASSWORD

    relying_party = make_rp(skip_consent=True)
    browser = Browser()
    browser.post("/login", {"email": user.email, "password": PASSWORD})
    token = first_tokens(browser, relying_party)["refresh_token"]
    statuses = []

    def refresh():
        data = {"grant_type": "refresh_token", "refresh_token": token}
        statuses.append(form(Browser(), "/token", data, relying_party).status_code)

    assert run_concurrently(refresh, workers=6) == []
    assert statuses.count(200) <= 1
    if statuses.count(400):  # reuse was seen: nothing of the family may survive
        assert not RefreshToken.objects.filter(revoked_at__isnull=True,
                                               used_at__isnull=True).exists()  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_concurrent_redemptions_of_a_code_leave_no_live_token(user):
    """Six redemptions of one code at once: one wins, the others are replays, and a replay
    revokes what the winner got - also when it lost the race by a moment."""
    from tests.factories import PASSWORD

    relying_party = make_rp(skip_consent=True)
    browser = Browser()
    browser.post("/login", {"email": user.email, "password": PASSWORD})
    location = browser.get("/authorize", relying_party.authorize_params(
        scope="openid offline_access"))["Location"]  # fmt: skip
    code = query_of(location)["code"]
    responses = []

    assert run_concurrently(lambda: responses.append(relying_party.redeem(Browser(), code)),
                            workers=6) == []  # fmt: skip
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 400, 400, 400, 400, 400]
    assert {r.json()["error"] for r in responses if r.status_code == 400} == {"invalid_grant"}
    won = next(r.json() for r in responses if r.status_code == 200)
    data = {"grant_type": "refresh_token", "refresh_token": won["refresh_token"]}
    assert form(Browser(), "/token", data, relying_party).json()["error"] == "invalid_grant"
    userinfo = Browser().get("/userinfo", HTTP_AUTHORIZATION=f"Bearer {won['access_token']}")
    assert userinfo.status_code == 401


def test_token_for_another_api_is_refused_at_userinfo(signed_in):
    api = "https://api-a.example/"
    app = make_rp(skip_consent=True, resources=[api])
    body = first_tokens(signed_in, app, resource=api, scope="openid")

    response = signed_in.get("/userinfo", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")

    assert response.status_code == 401


def test_introspection_reports_the_resource_audience_and_hides_refresh_tokens(signed_in):
    api = "https://api-a.example/"
    app = make_rp(skip_consent=True, resources=[api])
    gateway = make_rp(name="Gateway", grant_types=["client_credentials"], response_types=[],
                      scopes=[], is_resource_server=True)  # fmt: skip
    body = first_tokens(signed_in, app, resource=api)

    access = form(signed_in, "/introspect", {"token": body["access_token"]}, gateway).json()
    refresh = form(signed_in, "/introspect", {"token": body["refresh_token"]}, gateway).json()

    assert access["aud"] == api
    assert refresh == {"active": False}
    assert form(signed_in, "/introspect", {"token": body["refresh_token"]}, app).json()["active"]


def test_view_only_staff_cannot_disable_clients(client, rp):
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_client"))
    client.force_login(viewer)

    client.post("/admin/clients/client/", {"action": "disable_clients",
                                           "_selected_action": [rp.client.pk]})  # fmt: skip

    rp.client.refresh_from_db()
    assert rp.client.is_enabled


@pytest.mark.parametrize(
    "overrides",
    [
        {"max_age": "\u00b2"},
        {"claims": "[" * 3000 + "]" * 3000},
        {"redirect_uri": 'https://evil.example/"'},
        {"redirect_uri": "https://évil.example/"},
        {"response_type": 'x"'},
        {"resource": 'https://x.example/"'},
        {"resource": "https://ü.example/"},
    ],
)
def test_hostile_authorization_parameters_never_cause_a_500(signed_in, rp, overrides):
    response = signed_in.get("/authorize", rp.authorize_params(**overrides))

    assert response.status_code in (302, 400)
    if response.status_code == 302:
        assert response["Location"].startswith(REDIRECT_URI)


def test_hostile_parameter_name_never_causes_a_500(signed_in, rp):
    query = urlencode(rp.authorize_params()) + "&" + urlencode({'x"y': "z" * 5000})

    response = signed_in.get(f"/authorize?{query}")

    assert response.status_code == 302  # unknown parameters are ignored


@pytest.mark.parametrize("path", ["/token", "/revoke", "/introspect"])
def test_non_utf8_basic_credentials_are_invalid_client(client, path):
    credentials = base64.b64encode(b"\xff\xfe:\xff").decode()

    response = form(client, path, {"token": "x", "grant_type": "client_credentials"},
                    HTTP_AUTHORIZATION=f"Basic {credentials}")  # fmt: skip

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_resource_with_forbidden_characters_at_the_token_endpoint(client):
    app = make_rp(grant_types=["client_credentials"], response_types=[], scopes=[])

    response = form(client, "/token", {"grant_type": "client_credentials",
                                       "resource": "https://ü.example/\""}, app)  # fmt: skip

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"


def test_registration_metadata_with_control_characters(client, settings):
    settings.IDP_REGISTRATION_ENABLED = True

    response = client.post("/register", json.dumps({"redirect_uris": ["https://a.example/cb"],
                                                    "scope": "openid\u0000"}),
                           content_type="application/json")  # fmt: skip

    assert response.status_code == 400
    assert response.json()["error"] in {"invalid_client_metadata", "invalid_request"}


def test_pending_requests_do_not_store_junk_parameters(client, rp):
    junk = {f"junk{i}": "x" * 4000 for i in range(60)}

    response = client.post("/authorize", {**rp.authorize_params(), **junk})

    assert response.status_code == 302
    from idp.services.authorization import pending_load

    rid = query_of(response["Location"])["next"].split("request=")[1]
    assert not any(k.startswith("junk") for k in pending_load(client.session, rid).params)


def test_oversize_authorization_request_is_refused(client, rp):
    params = rp.authorize_params(state="s" * 4000, nonce="n" * 4000, login_hint="h" * 4000,
                                 acr_values="a" * 4000, ui_locales="u" * 4000)  # fmt: skip

    response = client.get("/authorize", params)

    assert response.status_code == 400


def test_token_parameters_in_the_query_string_are_refused(client, rp):
    response = client.post("/token?grant_type=client_credentials", "",
                           content_type="application/x-www-form-urlencoded",
                           **rp.basic_auth())  # fmt: skip

    assert response.json()["error"] == "invalid_request"


def test_access_token_is_not_accepted_as_id_token_hint(signed_in, rp):
    access_token = first_tokens(signed_in, rp)["access_token"]

    response = signed_in.get("/authorize", rp.authorize_params(id_token_hint=access_token))

    assert query_of(response["Location"])["error"] == "invalid_request"


def test_openid_request_without_redirect_uri_is_an_error_page(signed_in, rp):
    response = signed_in.get("/authorize", rp.authorize_params(redirect_uri=None))

    assert response.status_code == 400
    assert "Location" not in response


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("post", "/login", "email=a%00b%40example.test&password=x"),
        ("get", "/authorize?client_id=a%00", None),
        ("get", "/end-session?client_id=a%00", None),
        ("post", "/token", "grant_type=client_credentials&scope=a%00"),
        ("post", "/login/passkey/verify", '{"id": "AA\\u0000"}'),
    ],
)
def test_nul_characters_are_a_400_not_a_500(client, method, path, data):
    kwargs = {}
    if data is not None:
        kind = "application/json" if data.startswith("{") else "application/x-www-form-urlencoded"
        kwargs = {"data": data, "content_type": kind}

    response = getattr(client, method)(path, **kwargs)

    assert response.status_code == 400


def test_end_session_for_a_browser_without_a_session_record_asks_then_signs_out(signed_in, user):
    from accounts.models import SSOSession

    SSOSession.objects.all().delete()  # e.g. removed from the database by hand

    page = signed_in.get("/account")
    assert page.status_code == 302  # the middleware ends a sign-in whose record is gone


def test_end_session_confirmation_for_a_signed_in_browser_without_tracking(client, user):
    client.force_login(user)  # a session without a sign-in record (no sid)

    page = client.get("/end-session")
    done = client.post("/end-session/confirm", {"decision": "logout"})

    assert "Sign out of Portcullis?" in page.content.decode()
    assert done.status_code == 200
    assert client.get("/account").status_code == 302
