"""Single sign-on sessions and logout: RP-initiated, back-channel, front-channel."""

import base64
import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.test import Client as Browser
from joserfc import jwt
from joserfc.jwk import KeySet

from accounts.models import SSOSession
from idp.conf import idp_settings
from idp.models import LogoutDelivery, RefreshToken
from idp.services import keys
from idp.services.logout import logout_delivery_attempt
from tests.factories import PASSWORD
from tests.idp.conftest import make_rp, query_of

pytestmark = pytest.mark.django_db

LOGGED_OUT = "https://rp.example/logged-out"


def sign_in(browser, user) -> None:
    response = browser.post("/login", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302


def tokens(browser, relying_party, **params) -> dict:
    location = browser.get("/authorize", relying_party.authorize_params(**params))["Location"]
    body = relying_party.redeem(browser, query_of(location)["code"]).json()
    assert "id_token" in body, body
    return body


def claims_of(browser, token: str) -> dict:
    return jwt.decode(token, KeySet.import_key_set(browser.get("/jwks.json").json())).claims


def prompt_none_error(browser, relying_party) -> str | None:
    location = browser.get("/authorize", relying_party.authorize_params(prompt="none"))["Location"]
    return query_of(location).get("error")


@pytest.fixture
def app_a(db):
    return make_rp(skip_consent=True, post_logout_redirect_uris=[LOGGED_OUT])


@pytest.fixture
def app_b(db):
    return make_rp(skip_consent=True, redirect_uris=["https://other.example/cb"])


# --- SSO ---


def test_one_sign_in_serves_a_second_app_with_the_same_sid(signed_in, app_a, app_b, user):
    first = claims_of(signed_in, tokens(signed_in, app_a)["id_token"])

    response = signed_in.get("/authorize", app_b.authorize_params())

    assert response["Location"].startswith("https://other.example/cb?code=")
    second = claims_of(signed_in, tokens(signed_in, app_b)["id_token"])
    assert first["sid"] == second["sid"]
    assert first["auth_time"] == second["auth_time"]
    session = SSOSession.objects.get(user=user)
    assert session.sid == first["sid"]
    assert set(session.clients.all()) == {app_a.client, app_b.client}


def test_prompt_login_inside_a_session_reauthenticates_and_keeps_the_sid(signed_in, app_a, user):
    before = claims_of(signed_in, tokens(signed_in, app_a)["id_token"])

    with time_machine.travel(time.time() + 5, tick=False):
        again = signed_in.get("/authorize", app_a.authorize_params(prompt="login"))
        next_path = query_of(again["Location"])["next"]
        signed_in.post("/login", {"email": user.email, "password": PASSWORD, "next": next_path})
        code = query_of(signed_in.get(next_path)["Location"])["code"]
        after = claims_of(signed_in, app_a.redeem(signed_in, code).json()["id_token"])

    assert after["auth_time"] > before["auth_time"]
    assert after["sid"] == before["sid"]
    assert SSOSession.objects.filter(user=user, ended_at__isnull=True).count() == 1


def test_idle_session_expires_and_signs_the_browser_out(signed_in, app_a):
    tokens(signed_in, app_a)

    with time_machine.travel(time.time() + idp_settings.SSO_SESSION_IDLE_TTL.total_seconds() + 5):
        assert signed_in.get("/account").status_code == 302
        assert prompt_none_error(signed_in, app_a) == "login_required"

    assert SSOSession.objects.get().end_reason == "expired"


def test_absolute_lifetime_ends_an_active_session(signed_in, app_a):
    start = time.time()
    for hours in range(1, 13):
        with time_machine.travel(start + hours * 3600 - 60, tick=False):
            signed_in.get("/account")  # active all day

    with time_machine.travel(start + 12 * 3600 + 60, tick=False):
        assert signed_in.get("/account").status_code == 302


# --- RP-initiated logout ---


def end_session(browser, method="get", **params):
    return getattr(browser, method)("/end-session", params)


@pytest.mark.parametrize("method", ["get", "post"])
def test_rp_logout_with_a_valid_hint_redirects_with_state_and_ends_the_session(
    signed_in, app_a, method
):
    id_token = tokens(signed_in, app_a)["id_token"]

    response = end_session(signed_in, method, id_token_hint=id_token,
                           post_logout_redirect_uri=LOGGED_OUT, state="xyz")  # fmt: skip

    assert response.status_code == 302
    assert response["Location"] == f"{LOGGED_OUT}?state=xyz"
    assert prompt_none_error(signed_in, app_a) == "login_required"
    assert SSOSession.objects.get().end_reason == "rp_logout"


def test_rp_logout_without_state_redirects_without_it(signed_in, app_a):
    id_token = tokens(signed_in, app_a)["id_token"]

    response = end_session(signed_in, id_token_hint=id_token, post_logout_redirect_uri=LOGGED_OUT)

    assert response["Location"] == LOGGED_OUT


def test_rp_logout_with_only_a_hint_signs_out_without_redirect(signed_in, app_a):
    id_token = tokens(signed_in, app_a)["id_token"]

    response = end_session(signed_in, id_token_hint=id_token)

    assert response.status_code == 200
    assert "You are signed out" in response.content.decode()
    assert prompt_none_error(signed_in, app_a) == "login_required"


@pytest.mark.parametrize(
    "uri",
    [
        "https://evil.example/",
        LOGGED_OUT + "?foo=bar",
        LOGGED_OUT + "/",
        "https://RP.example/logged-out",
    ],
)
def test_unregistered_post_logout_redirect_uri_never_redirects(signed_in, app_a, uri):
    id_token = tokens(signed_in, app_a)["id_token"]

    response = end_session(signed_in, id_token_hint=id_token, post_logout_redirect_uri=uri)

    assert response.status_code == 200
    assert "Location" not in response
    assert uri not in response.content.decode()


def forged_hints(browser, genuine: str) -> list[str]:
    from joserfc.jwk import RSAKey

    header, payload, _ = genuine.split(".")
    none_header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    kid = json.loads(base64.urlsafe_b64decode(header + "=="))["kid"]
    foreign = jwt.encode({"alg": "RS256", "kid": kid}, claims, RSAKey.generate_key(2048))
    return [f"{none_header}.{payload}.", foreign, genuine[:-6] + "AAAAAA", "garbage"]


@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_forged_hint_never_signs_out_silently(signed_in, app_a, index):
    genuine = tokens(signed_in, app_a)["id_token"]
    hint = forged_hints(signed_in, genuine)[index]

    response = end_session(signed_in, id_token_hint=hint, post_logout_redirect_uri=LOGGED_OUT,
                           state="s")  # fmt: skip

    assert response.status_code == 200
    assert "Sign out of Portcullis?" in response.content.decode()
    assert signed_in.get("/account").status_code == 200  # still signed in
    assert SSOSession.objects.get().ended_at is None


def test_hint_of_another_session_asks_for_confirmation(signed_in, app_a, user):
    other_browser = Browser()
    sign_in(other_browser, user)
    others_hint = tokens(other_browser, app_a)["id_token"]
    tokens(signed_in, app_a)

    response = end_session(
        signed_in, id_token_hint=others_hint, post_logout_redirect_uri=LOGGED_OUT
    )

    assert "Sign out of Portcullis?" in response.content.decode()


def test_confirmed_logout_continues_to_the_registered_uri(signed_in, app_a):
    genuine = tokens(signed_in, app_a)["id_token"]
    end_session(signed_in, client_id=app_a.client_id, post_logout_redirect_uri=LOGGED_OUT,
                state="abc")  # fmt: skip

    response = signed_in.post("/end-session/confirm", {"decision": "logout"})

    assert response["Location"] == f"{LOGGED_OUT}?state=abc"
    assert prompt_none_error(signed_in, app_a) == "login_required"
    assert genuine


def test_no_params_asks_then_signs_out_without_redirect(signed_in, app_a):
    tokens(signed_in, app_a)

    page = end_session(signed_in)
    done = signed_in.post("/end-session/confirm", {"decision": "logout"})

    assert "Sign out of Portcullis?" in page.content.decode()
    assert done.status_code == 200
    assert "You are signed out" in done.content.decode()
    assert prompt_none_error(signed_in, app_a) == "login_required"


def test_stay_signed_in_keeps_the_session(signed_in, app_a):
    tokens(signed_in, app_a)
    end_session(signed_in, state="only-state")

    response = signed_in.post("/end-session/confirm", {"decision": "stay"})

    assert response["Location"] == "/account"
    assert signed_in.get("/account").status_code == 200


def test_confirmation_needs_the_csrf_token(user, app_a):
    browser = Browser(enforce_csrf_checks=True)
    page = browser.get("/login")
    browser.post("/login", {"email": user.email, "password": PASSWORD,
                            "csrfmiddlewaretoken": page.context["csrf_token"]})  # fmt: skip
    end_session(browser)

    response = browser.post("/end-session/confirm", {"decision": "logout"})

    assert response.status_code == 403
    assert browser.get("/account").status_code == 200


def test_expired_hint_is_accepted_for_logout(signed_in, app_a):
    id_token = tokens(signed_in, app_a)["id_token"]

    with time_machine.travel(time.time() + 3600, tick=False):
        signed_in.get("/account")
        response = end_session(
            signed_in, id_token_hint=id_token, post_logout_redirect_uri=LOGGED_OUT
        )

    assert response["Location"] == LOGGED_OUT


def test_hint_signed_by_a_retired_key_is_accepted(signed_in, app_a):
    id_token = tokens(signed_in, app_a)["id_token"]
    keys.signing_key_rotate(force=True)

    response = end_session(signed_in, id_token_hint=id_token, post_logout_redirect_uri=LOGGED_OUT)

    assert response["Location"] == LOGGED_OUT


def test_logout_without_a_session_still_honours_a_valid_hint(client, signed_in, app_a):
    id_token = tokens(signed_in, app_a)["id_token"]

    response = end_session(Browser(), id_token_hint=id_token, post_logout_redirect_uri=LOGGED_OUT)

    assert response["Location"] == LOGGED_OUT


def test_end_session_refuses_other_methods(client):
    assert client.put("/end-session").status_code == 405


def test_discovery_advertises_logout(client):
    doc = client.get("/.well-known/openid-configuration").json()

    assert doc["end_session_endpoint"] == f"{idp_settings.ISSUER}/end-session"
    assert doc["backchannel_logout_supported"] is True
    assert doc["backchannel_logout_session_supported"] is True
    assert doc["frontchannel_logout_supported"] is True
    assert doc["frontchannel_logout_session_supported"] is True


def test_logout_revokes_the_refresh_tokens_of_the_session(signed_in, app_a, app_b):
    from clients.services import client_update

    client_update(client=app_b.client, revoke_refresh_tokens_on_logout=False)
    a = tokens(signed_in, app_a, scope="openid offline_access")
    b = tokens(signed_in, app_b, scope="openid offline_access")

    signed_in.post("/logout")

    revoked = {r.client_id: r.revoked_at is not None for r in RefreshToken.objects.all()}
    assert revoked == {app_a.client.pk: True, app_b.client.pk: False}
    assert a["refresh_token"] != b["refresh_token"]


# --- front-channel ---


def test_logout_page_loads_front_channel_iframes_then_continues(signed_in, db):
    front = make_rp(
        skip_consent=True, post_logout_redirect_uris=[LOGGED_OUT],
        frontchannel_logout_uri="https://rp.example/fc-logout",
        frontchannel_logout_session_required=True,
    )  # fmt: skip
    id_token = tokens(signed_in, front)["id_token"]
    sid = claims_of(signed_in, id_token)["sid"]

    response = end_session(signed_in, id_token_hint=id_token, post_logout_redirect_uri=LOGGED_OUT,
                           state="st")  # fmt: skip

    body = response.content.decode()
    assert response.status_code == 200
    src = body.split('<iframe src="')[1].split('"')[0].replace("&amp;", "&")
    query = parse_qs(urlsplit(src).query)
    assert src.startswith("https://rp.example/fc-logout?")
    assert query == {"iss": [idp_settings.ISSUER], "sid": [sid]}
    assert f'href="{LOGGED_OUT}?state=st"' in body
    assert "frame-src https://rp.example" in response["Content-Security-Policy"]
    assert "/static/js/logged_out.js" in body


# --- back-channel ---


class Receiver:
    """A local RP back-channel endpoint: fails the first `failures` calls, records tokens."""

    def __init__(self, failures: int = 0, gate: threading.Event | None = None) -> None:
        self.tokens: list[str] = []
        self.failures = failures
        self.gate = gate
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                if receiver.gate is not None:
                    receiver.gate.wait(timeout=10)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                if receiver.failures > 0:
                    receiver.failures -= 1
                    self.send_response(503)
                else:
                    receiver.tokens.append(parse_qs(body)["logout_token"][0])
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/backchannel"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    created = []

    def make(**kwargs) -> Receiver:
        created.append(Receiver(**kwargs))
        return created[-1]

    yield make
    for r in created:
        r.close()


def backchannel_rp(url: str):
    return make_rp(
        skip_consent=True,
        backchannel_logout_uri=url,
        backchannel_logout_session_required=True,
        id_token_signed_response_alg="ES256",
    )


def test_logout_token_is_a_valid_signed_jwt(signed_in, receiver, user, settings):
    rp_receiver = receiver()
    rp = backchannel_rp(rp_receiver.url)
    sid = claims_of(signed_in, tokens(signed_in, rp)["id_token"])["sid"]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("idp.services.logout.backchannel_logout_dispatch", lambda ids: None)
        signed_in.post("/logout")
    delivery = LogoutDelivery.objects.get()
    assert logout_delivery_attempt(delivery_id=delivery.pk) is True

    token = jwt.decode(rp_receiver.tokens[0],
                       KeySet.import_key_set(signed_in.get("/jwks.json").json()))  # fmt: skip
    assert token.header["typ"] == "logout+jwt"
    assert token.header["alg"] == "ES256"
    claims = token.claims
    assert claims["iss"] == idp_settings.ISSUER
    assert claims["aud"] == rp.client_id
    assert claims["sub"] == str(user.subject)
    assert claims["sid"] == sid
    assert claims["events"] == {"http://schemas.openid.net/event/backchannel-logout": {}}
    assert "nonce" not in claims
    assert claims["jti"]
    assert claims["iat"] <= time.time() < claims["exp"]
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    assert delivery.attempts == 1


@pytest.mark.django_db(transaction=True)
def test_slow_rp_never_delays_the_logout_page(user, receiver, settings):
    # Local mode's delivery thread; the broker path is tested with a real worker in
    # tests/idp/test_tasks.py.
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.IDP_BACKCHANNEL_LOGOUT_RETRY_DELAY = timedelta(milliseconds=50)
    gate = threading.Event()
    rp_receiver = receiver(gate=gate)
    rp = backchannel_rp(rp_receiver.url)
    browser = Browser()
    sign_in(browser, user)
    tokens(browser, rp)

    response = browser.post("/logout")

    assert response.status_code == 200
    assert LogoutDelivery.objects.get().status == "pending"  # the RP is still holding us
    gate.set()
    deadline = time.monotonic() + 10
    while LogoutDelivery.objects.get().status == "pending" and time.monotonic() < deadline:
        time.sleep(0.05)  # waiting on the delivery thread
    assert LogoutDelivery.objects.get().status == "delivered"
    assert len(rp_receiver.tokens) == 1


@pytest.mark.django_db(transaction=True)
def test_rp_that_is_down_gets_its_token_when_back(user, receiver, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.IDP_BACKCHANNEL_LOGOUT_RETRY_DELAY = timedelta(milliseconds=50)
    rp_receiver = receiver(failures=2)
    rp = backchannel_rp(rp_receiver.url)
    browser = Browser()
    sign_in(browser, user)
    tokens(browser, rp)

    browser.post("/logout")

    deadline = time.monotonic() + 10
    while LogoutDelivery.objects.get().status == "pending" and time.monotonic() < deadline:
        time.sleep(0.05)  # waiting on the delivery thread
    delivery = LogoutDelivery.objects.get()
    assert delivery.status == "delivered"
    assert delivery.attempts == 3
    assert len(rp_receiver.tokens) == 1


def test_dead_rp_delivery_is_recorded_as_failed(signed_in, settings):
    from idp.services.logout import logout_delivery_give_up

    rp = backchannel_rp("http://127.0.0.1:9/unreachable")
    tokens(signed_in, rp)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("idp.services.logout.backchannel_logout_dispatch", lambda ids: None)
        signed_in.post("/logout")
    delivery = LogoutDelivery.objects.get()

    assert logout_delivery_attempt(delivery_id=delivery.pk) is False
    logout_delivery_give_up(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert delivery.attempts == 1
    assert "ConnectionError" in delivery.last_error


# --- the account page and the admin ---


def test_account_page_lists_sessions_and_ends_another_one(signed_in, user, app_a):
    other_browser = Browser()
    sign_in(other_browser, user)
    tokens(other_browser, app_a)
    other_sid = other_browser.session["portcullis_sid"]

    page = signed_in.get("/account")
    assert page.content.decode().count("data-sid=") == 2
    signed_in.post(f"/account/sessions/{other_sid}/end")

    assert other_browser.get("/account").status_code == 302
    assert signed_in.get("/account").status_code == 200
    assert SSOSession.objects.get(sid=other_sid).end_reason == "user_ended"


def test_a_user_cannot_end_someone_elses_session(signed_in, app_a):
    from tests.factories import UserFactory

    stranger, their_browser = UserFactory(), Browser()
    sign_in(their_browser, stranger)

    signed_in.post(f"/account/sessions/{their_browser.session['portcullis_sid']}/end")

    assert their_browser.get("/account").status_code == 200


def test_sign_out_everywhere(signed_in, user):
    other_browser = Browser()
    sign_in(other_browser, user)

    response = signed_in.post("/account/sessions/end-all")

    assert response.status_code == 200
    assert other_browser.get("/account").status_code == 302
    assert signed_in.get("/account").status_code == 302
    assert not SSOSession.objects.filter(ended_at__isnull=True).exists()


def test_admin_ends_a_users_sessions(signed_in, user):
    from tests.factories import UserFactory

    admin_browser = Browser()
    admin_browser.force_login(UserFactory(is_staff=True, is_superuser=True))

    admin_browser.post("/admin/accounts/user/", {"action": "end_sessions",
                                                 "_selected_action": [user.pk]})  # fmt: skip

    assert signed_in.get("/account").status_code == 302
    assert SSOSession.objects.get(user=user).end_reason == "admin"
    assert admin_browser.get("/admin/accounts/ssosession/").status_code == 200
    assert admin_browser.get("/admin/idp/logoutdelivery/").status_code == 200


def test_expiry_task_ends_idle_sessions_and_tells_the_apps(signed_in, user, receiver):
    from idp.tasks import sso_sessions_expire_task

    rp = backchannel_rp(receiver().url)
    tokens(signed_in, rp)

    with (
        time_machine.travel(time.time() + 3 * 3600, tick=False),
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setattr("idp.services.logout.backchannel_logout_dispatch", lambda ids: None)
        ended = sso_sessions_expire_task.run()

    assert ended == 1
    assert SSOSession.objects.get().end_reason == "expired"
    assert LogoutDelivery.objects.get().client == rp.client
