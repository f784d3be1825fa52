"""The /login, /logout and /account pages, through the Django test client."""

import pytest
from django.conf import settings
from django.test import Client

from accounts.forms import INVALID_CREDENTIALS
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def login(client: Client, email: str, password: str, **extra: str):
    return client.post("/login", {"email": email, "password": password, **extra})


def error_text(response) -> str:
    return str(INVALID_CREDENTIALS).replace("'", "&#x27;")


def test_login_page_renders_a_form_with_csrf_token(client):
    response = client.get("/login")

    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="csrfmiddlewaretoken"' in body
    assert 'autocomplete="current-password"' in body
    assert "/static/css/portcullis.css" in body


def test_login_with_right_password_signs_in_and_lands_on_account(client, user, password):
    response = login(client, user.email, password)

    assert response.status_code == 302
    assert response["Location"] == "/account"
    account = client.get("/account")
    assert account.status_code == 200
    assert user.email in account.content.decode()


def test_login_email_is_case_insensitive(client, user, password):
    response = login(client, "  " + user.email.upper() + " ", password)

    assert response.status_code == 302


def test_login_rotates_the_session_key(client, user, password):
    session = client.session  # an anonymous session, as a visitor would have
    session["probe"] = 1
    session.save()
    before = client.cookies[settings.SESSION_COOKIE_NAME].value

    login(client, user.email, password)

    after = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert before
    assert after
    assert before != after


def test_login_records_auth_time_and_method(client, user, password):
    login(client, user.email, password)

    assert client.session["portcullis_amr"] == ["pwd"]
    assert isinstance(client.session["portcullis_auth_time"], int)


def test_login_wrong_password_shows_generic_error_and_stays_signed_out(client, user):
    response = login(client, user.email, "not the password")

    assert response.status_code == 200
    assert error_text(response) in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_login_unknown_user_and_wrong_password_answer_alike(client, user):
    wrong_password = login(client, user.email, "not the password")
    unknown_user = login(Client(), "nobody@example.test", "not the password")

    def page(response):
        body = response.content.decode()
        # The only differences allowed: the CSRF token and the echoed email.
        body = body.replace(user.email, "EMAIL").replace("nobody@example.test", "EMAIL")
        return [line for line in body.splitlines() if "csrfmiddlewaretoken" not in line]

    assert wrong_password.status_code == unknown_user.status_code == 200
    assert page(wrong_password) == page(unknown_user)


def test_login_inactive_user_gets_the_same_generic_error(client, password):
    inactive = UserFactory(is_active=False)

    response = login(client, inactive.email, password)

    assert error_text(response) in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_login_with_empty_fields_gets_the_generic_error(client):
    response = client.post("/login", {})

    assert response.status_code == 200
    assert error_text(response) in response.content.decode()


def test_login_follows_a_same_origin_next_path(client, user, password):
    response = login(client, user.email, password, next="/account?tab=profile")

    assert response["Location"] == "/account?tab=profile"


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example",
        "https://evil.example/account",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "http://testserver/account",
        "/\t/evil.example",
        "https:/evil.example",
        "",
    ],
)
def test_login_ignores_a_next_that_is_not_a_same_origin_path(client, user, password, next_url):
    page = client.get("/login", {"next": next_url})
    response = login(client, user.email, password, next=next_url)

    assert next_url == "" or next_url not in page.content.decode()
    assert response.status_code == 302
    assert response["Location"] == "/account"


def test_login_rejects_a_post_without_csrf_token(user, password):
    client = Client(enforce_csrf_checks=True)

    response = login(client, user.email, password)

    assert response.status_code == 403
    assert "This form has expired" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_login_accepts_a_post_with_the_page_csrf_token(user, password):
    client = Client(enforce_csrf_checks=True)
    page = client.get("/login")
    token = page.context["csrf_token"]

    response = login(client, user.email, password, csrfmiddlewaretoken=str(token))

    assert response.status_code == 302


def test_login_oversize_body_gets_a_400_page(client):
    response = client.post(
        "/login",
        data=b"email=a%40b.test&password=" + b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1),
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 400
    assert "Bad request" in response.content.decode()


def test_login_too_many_fields_gets_a_400_page(client):
    body = "&".join(f"f{i}=1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 5))

    response = client.post("/login", data=body, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 400


def test_login_non_utf8_body_gets_the_generic_error(client, user):
    response = client.post(
        "/login",
        data=b"email=\xff\xfe%C3%28&password=\xc3\x28\x80",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    assert error_text(response) in response.content.decode()


def test_login_oversize_password_is_refused_without_hashing(client, user):
    response = login(client, user.email, "x" * 5000)

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_login_refuses_other_methods(client):
    assert client.put("/login").status_code == 405
    assert client.delete("/login").status_code == 405


def test_login_prefills_login_hint(client):
    response = client.get("/login", {"login_hint": "ada@example.test"})

    assert 'value="ada@example.test"' in response.content.decode()


def test_signed_in_user_visiting_login_goes_to_account(client, user):
    client.force_login(user)

    response = client.get("/login")

    assert response["Location"] == "/account"


def test_account_requires_sign_in(client):
    response = client.get("/account")

    assert response.status_code == 302
    assert response["Location"] == "/login?next=/account"


def test_logout_get_asks_for_confirmation_and_keeps_the_session(client, user):
    client.force_login(user)

    response = client.get("/logout")

    assert response.status_code == 200
    assert "Sign out?" in response.content.decode()
    assert client.get("/account").status_code == 200


def test_logout_post_ends_the_session(client, user):
    client.force_login(user)

    response = client.post("/logout")

    assert response.status_code == 200
    assert "You are signed out" in response.content.decode()
    assert client.get("/account").status_code == 302


def test_logout_post_without_csrf_token_is_refused(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    response = client.post("/logout")

    assert response.status_code == 403
    assert client.get("/account").status_code == 200


def test_admin_login_goes_through_our_login_page(client):
    response = client.get("/admin/login/?next=/admin/")

    assert response.status_code == 302
    assert response["Location"] == "/login?next=/admin/"


def test_staff_user_signs_in_to_admin_through_login_page(client, password):
    admin_user = UserFactory(is_staff=True, is_superuser=True)

    response = login(client, admin_user.email, password, next="/admin/")

    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/accounts/user/").status_code == 200
