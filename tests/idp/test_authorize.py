"""The authorization endpoint (OIDC Core §3.1.2), through the Django test client."""

import time
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine

from idp.conf import idp_settings
from idp.models import AuthorizationCode, Consent
from tests.idp.conftest import REDIRECT_URI, fragment_of, make_rp, query_of

pytestmark = pytest.mark.django_db


def code_from(response) -> str:
    assert response.status_code == 302, response.content[:500]
    assert response["Location"].startswith(REDIRECT_URI)
    return query_of(response["Location"])["code"]


def test_signed_in_user_gets_a_code_with_state_and_iss(signed_in, rp):
    params = rp.authorize_params()

    response = signed_in.get("/authorize", params)

    query = query_of(response["Location"])
    assert query["state"] == params["state"]
    assert query["iss"] == idp_settings.ISSUER
    assert len(query["code"]) >= 40
    assert "no-store" in response["Cache-Control"]


def test_code_is_stored_only_as_a_hash(signed_in, rp):
    code = code_from(signed_in.get("/authorize", rp.authorize_params()))

    stored = AuthorizationCode.objects.get()
    assert code not in str(AuthorizationCode.objects.values().get())
    assert stored.nonce.startswith("n-")
    assert stored.code_challenge_method == "S256"


def test_post_authorization_request_works_like_get(signed_in, rp):
    response = signed_in.post("/authorize", rp.authorize_params())

    assert "code" in query_of(response["Location"])


def test_parameter_order_and_unknown_parameters_do_not_matter(signed_in, rp):
    params = rp.authorize_params(scope="email profile openid", extra="foobar")

    response = signed_in.get("/authorize", dict(reversed(list(params.items()))))

    assert "code" in query_of(response["Location"])


def test_request_without_nonce_succeeds_for_the_code_flow(signed_in, rp):
    response = signed_in.get("/authorize", rp.authorize_params(nonce=None))

    assert "code" in query_of(response["Location"])


def test_fragment_response_mode(signed_in, rp):
    response = signed_in.get("/authorize", rp.authorize_params(response_mode="fragment"))

    location = response["Location"]
    assert urlsplit(location).query == ""
    assert {"code", "state", "iss"} <= set(fragment_of(location))


def test_form_post_response_mode_renders_an_auto_submitting_form(signed_in, rp):
    params = rp.authorize_params(response_mode="form_post")

    response = signed_in.get("/authorize", params)

    body = response.content.decode()
    assert response.status_code == 200
    assert f'action="{REDIRECT_URI}"' in body
    assert 'name="code"' in body
    assert f'value="{params["state"]}"' in body
    assert 'name="iss"' in body
    assert "/static/js/form_post.js" in body
    assert "<script>" not in body  # no inline script: the CSP forbids it
    csp = response["Content-Security-Policy"]
    assert "form-action https://rp.example" in csp
    assert "unsafe-inline" not in csp


# --- who must sign in ---


def test_anonymous_user_is_sent_to_login_with_a_short_next(client, rp):
    response = client.get("/authorize", rp.authorize_params(login_hint="ada@example.test"))

    location = urlsplit(response["Location"])
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert location.path == "/login"
    assert query["next"].startswith("/authorize/continue?request=")
    assert len(query["next"]) < 80
    assert query["login_hint"] == "ada@example.test"


def test_login_then_continue_returns_to_the_same_request(client, rp, user, password):
    params = rp.authorize_params()
    to_login = client.get("/authorize", params)
    next_path = query_of(to_login["Location"])["next"]

    login = client.post("/login", {"email": user.email, "password": password, "next": next_path})
    assert login["Location"] == next_path
    response = client.get(next_path)

    assert query_of(response["Location"])["state"] == params["state"]


def test_continue_link_is_single_use(client, rp, user, password):
    next_path = query_of(client.get("/authorize", rp.authorize_params())["Location"])["next"]
    client.post("/login", {"email": user.email, "password": password, "next": next_path})
    client.get(next_path)

    replay = client.get(next_path)

    assert replay.status_code == 400
    assert "expired" in replay.content.decode()


def test_unknown_continue_request_is_an_error_page(client):
    response = client.get("/authorize/continue", {"request": "nope"})

    assert response.status_code == 400


def test_prompt_none_without_session_is_login_required(client, rp):
    params = rp.authorize_params(prompt="none")

    response = client.get("/authorize", params)

    query = query_of(response["Location"])
    assert query["error"] == "login_required"
    assert query["state"] == params["state"]
    assert query["iss"] == idp_settings.ISSUER
    assert "code" not in query


def test_prompt_none_with_session_passes_silently(signed_in, rp):
    response = signed_in.get("/authorize", rp.authorize_params(prompt="none"))

    assert "code" in query_of(response["Location"])


def test_prompt_none_combined_with_another_value_is_invalid(signed_in, rp):
    response = signed_in.get("/authorize", rp.authorize_params(prompt="none login"))

    assert query_of(response["Location"])["error"] == "invalid_request"


def test_prompt_login_asks_again_then_answers_with_a_later_auth_time(signed_in, rp, user, password):
    first = code_from(signed_in.get("/authorize", rp.authorize_params()))
    first_time = AuthorizationCode.objects.get(code_hash__isnull=False, used_at__isnull=True)
    assert first

    with time_machine.travel(time.time() + 5, tick=False):
        again = signed_in.get("/authorize", rp.authorize_params(prompt="login"))
        assert urlsplit(again["Location"]).path == "/login"
        next_path = query_of(again["Location"])["next"]
        signed_in.post("/login", {"email": user.email, "password": password, "next": next_path})
        code_from(signed_in.get(next_path))

    second = AuthorizationCode.objects.order_by("-created_at").first()
    assert second.auth_time > first_time.auth_time


def test_max_age_exceeded_asks_for_login_again(signed_in, rp):
    with time_machine.travel(time.time() + 120, tick=False):
        response = signed_in.get("/authorize", rp.authorize_params(max_age="60"))

    assert urlsplit(response["Location"]).path == "/login"


def test_max_age_not_exceeded_passes_with_the_original_auth_time(signed_in, rp):
    session_auth_time = signed_in.session["portcullis_auth_time"]

    response = signed_in.get("/authorize", rp.authorize_params(max_age="10000"))

    code_from(response)
    assert AuthorizationCode.objects.get().auth_time == session_auth_time


def test_max_age_exceeded_with_prompt_none_is_login_required(signed_in, rp):
    with time_machine.travel(time.time() + 120, tick=False):
        response = signed_in.get("/authorize", rp.authorize_params(max_age="60", prompt="none"))

    assert query_of(response["Location"])["error"] == "login_required"


@pytest.mark.parametrize("max_age", ["-1", "abc", "1.5", "9" * 20])
def test_malformed_max_age_is_invalid_request(signed_in, rp, max_age):
    response = signed_in.get("/authorize", rp.authorize_params(max_age=max_age))

    assert query_of(response["Location"])["error"] == "invalid_request"


# --- consent ---


def test_consent_page_names_the_app_and_the_scopes(signed_in, db):
    consent_rp = make_rp(skip_consent=False, client_uri="https://rp.example/")

    response = signed_in.get("/authorize", consent_rp.authorize_params())

    body = response.content.decode()
    assert response.status_code == 200
    assert "Allow Example RP to use your account?" in body
    assert "See your email address" in body
    assert "https://rp.example/" in body
    assert 'name="csrfmiddlewaretoken"' in body


def approve(http, response, decision="approve"):
    rid = response.context["rid"]
    return http.post("/authorize/continue", {"request": rid, "decision": decision})


def test_consent_approved_issues_a_code_and_is_remembered(signed_in, user):
    consent_rp = make_rp(skip_consent=False)

    approved = approve(signed_in, signed_in.get("/authorize", consent_rp.authorize_params()))
    code_from(approved)
    assert set(Consent.objects.get(user=user).scopes) == {"openid", "profile", "email"}

    fewer = signed_in.get("/authorize", consent_rp.authorize_params(scope="openid email"))
    code_from(fewer)


def test_consent_is_asked_again_when_scopes_grow(signed_in):
    consent_rp = make_rp(skip_consent=False)
    approve(signed_in, signed_in.get("/authorize", consent_rp.authorize_params(scope="openid")))

    response = signed_in.get("/authorize", consent_rp.authorize_params(scope="openid email"))

    assert response.status_code == 200
    assert "Allow" in response.content.decode()


def test_prompt_consent_asks_even_when_remembered(signed_in):
    consent_rp = make_rp(skip_consent=False)
    approve(signed_in, signed_in.get("/authorize", consent_rp.authorize_params()))

    response = signed_in.get("/authorize", consent_rp.authorize_params(prompt="consent"))

    assert response.status_code == 200
    code_from(approve(signed_in, response))


def test_consent_denied_is_access_denied(signed_in):
    consent_rp = make_rp(skip_consent=False)
    params = consent_rp.authorize_params()

    denied = approve(signed_in, signed_in.get("/authorize", params), decision="deny")

    query = query_of(denied["Location"])
    assert query["error"] == "access_denied"
    assert query["state"] == params["state"]
    assert not Consent.objects.exists()


def test_prompt_none_without_consent_is_consent_required(signed_in):
    consent_rp = make_rp(skip_consent=False)

    response = signed_in.get("/authorize", consent_rp.authorize_params(prompt="none"))

    assert query_of(response["Location"])["error"] == "consent_required"


def test_consent_post_needs_the_csrf_token(user, password):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    page = browser.get("/login")
    browser.post(
        "/login",
        {"email": user.email, "password": password,
         "csrfmiddlewaretoken": page.context["csrf_token"]},
    )  # fmt: skip
    consent_rp = make_rp(skip_consent=False)
    response = browser.get("/authorize", consent_rp.authorize_params())

    forged = browser.post(
        "/authorize/continue", {"request": response.context["rid"], "decision": "approve"}
    )

    assert forged.status_code == 403
    assert not Consent.objects.exists()


def test_skip_consent_client_never_asks(signed_in, rp):
    code_from(signed_in.get("/authorize", rp.authorize_params()))

    assert not Consent.objects.exists()


# --- errors that must never redirect ---


@pytest.mark.parametrize(
    "overrides",
    [
        {"client_id": "unknown-client"},
        {"client_id": None},
        {"redirect_uri": "https://evil.example/callback"},
        {"redirect_uri": REDIRECT_URI + "/extra"},
        {"redirect_uri": REDIRECT_URI + "?x=1"},
        {"redirect_uri": "https://RP.example/callback"},
        {"redirect_uri": "javascript:alert(1)"},
    ],
)
def test_unknown_client_or_unregistered_redirect_uri_shows_an_error_page(signed_in, rp, overrides):
    response = signed_in.get("/authorize", rp.authorize_params(**overrides))

    assert response.status_code == 400
    assert "Location" not in response
    assert "can't be completed" in response.content.decode()


def test_missing_redirect_uri_with_several_registered_is_an_error_page(signed_in):
    two = make_rp(
        skip_consent=True,
        redirect_uris=["https://rp.example/callback", "https://rp.example/other"],
    )

    response = signed_in.get("/authorize", two.authorize_params(redirect_uri=None))

    assert response.status_code == 400
    assert "Location" not in response


def test_disabled_client_gets_an_error_page(signed_in, rp):
    from clients.services import client_disable

    client_disable(client=rp.client)

    response = signed_in.get("/authorize", rp.authorize_params())

    assert response.status_code == 400
    assert "Location" not in response


def test_repeated_parameter_is_an_error_page(signed_in, rp):
    query = "&".join(f"{k}={v}" for k, v in rp.authorize_params().items())

    response = signed_in.get(f"/authorize?{query}&client_id=other")

    assert response.status_code == 400
    assert "Location" not in response


# --- errors redirected to the registered URI ---


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"response_type": None}, "unsupported_response_type"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "id_token"}, "unsupported_response_type"),
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge": "short"}, "invalid_request"),
        ({"scope": "openid superuser"}, "invalid_scope"),
        ({"response_mode": "web_message"}, "invalid_request"),
        ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
        ({"request_uri": "https://rp.example/request.jwt"}, "request_uri_not_supported"),
        ({"registration": "{}"}, "registration_not_supported"),
        ({"claims": "not json"}, "invalid_request"),
        ({"claims": "[1, 2]"}, "invalid_request"),
        ({"id_token_hint": "not-a-token"}, "invalid_request"),
    ],
)
def test_invalid_request_redirects_the_error_with_state_and_iss(signed_in, rp, overrides, error):
    params = rp.authorize_params(**overrides)

    response = signed_in.get("/authorize", params)

    assert response.status_code == 302
    assert response["Location"].startswith(REDIRECT_URI + "?")
    query = query_of(response["Location"])
    assert query["error"] == error
    assert query["state"] == params["state"]
    assert query["iss"] == idp_settings.ISSUER
    assert "code" not in query


def test_error_in_form_post_mode_is_posted(signed_in, rp):
    response = signed_in.get(
        "/authorize", rp.authorize_params(response_mode="form_post", scope="openid superuser")
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert 'value="invalid_scope"' in body


# --- hints ---


def test_id_token_hint_of_the_signed_in_user_passes_silently(signed_in, rp):
    id_token = full_flow(signed_in, rp)["id_token"]

    response = signed_in.get(
        "/authorize", rp.authorize_params(prompt="none", id_token_hint=id_token)
    )

    code_from(response)


def test_id_token_hint_of_another_user_needs_login(signed_in, rp):
    from django.test import Client

    from tests.factories import PASSWORD, UserFactory

    other, browser = UserFactory(), Client()
    browser.post("/login", {"email": other.email, "password": PASSWORD})
    others_token = full_flow(browser, rp)["id_token"]

    response = signed_in.get(
        "/authorize", rp.authorize_params(prompt="none", id_token_hint=others_token)
    )

    assert query_of(response["Location"])["error"] == "login_required"


@pytest.mark.parametrize(
    ("name", "value"),
    [("ui_locales", "se en"), ("claims_locales", "se"), ("display", "popup"),
     ("display", "page"), ("acr_values", "1 2"), ("login_hint", "buffy@example.test")],
)  # fmt: skip
def test_optional_parameters_are_accepted(signed_in, rp, name, value):
    response = signed_in.get("/authorize", rp.authorize_params(**{name: value}))

    code_from(response)


@pytest.mark.parametrize("method", ["put", "delete", "patch"])
def test_authorize_refuses_other_methods(client, method):
    assert getattr(client, method)("/authorize").status_code == 405


def test_oversize_parameter_is_an_error_page(signed_in, rp):
    response = signed_in.get("/authorize", rp.authorize_params(state="x" * 5000))

    assert response.status_code == 400
    assert "Location" not in response


def test_non_utf8_parameters_do_not_break_the_endpoint(signed_in, rp):
    params = rp.authorize_params()
    query = "&".join(f"{k}={v}" for k, v in params.items() if k != "state")

    response = signed_in.get(f"/authorize?{query}&state=%ff%fe")

    assert response.status_code == 302
    assert "code" in query_of(response["Location"])


def full_flow(http, relying_party) -> dict:
    code = code_from(http.get("/authorize", relying_party.authorize_params()))
    response = relying_party.redeem(http, code)
    assert response.status_code == 200, response.content
    return response.json()
