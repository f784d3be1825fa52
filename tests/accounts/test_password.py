"""Password reset by email, password change and email change, through the test client."""

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEvent, SSOSession, User
from accounts.password_services import email_change_token_make
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Quartz-lantern 7 over the fjord"
NEUTRAL = "If an account exists for that address, we sent a link"


def sign_in(email: str, password: str = PASSWORD) -> Client:
    browser = Client()
    response = browser.post("/login", {"email": email, "password": password})
    assert response.status_code == 302
    assert browser.get("/account").status_code == 200
    return browser


def is_signed_out(browser: Client) -> bool:
    response = browser.get("/account")
    return response.status_code == 302 and response["Location"].startswith("/login")


def link_in(message, path_prefix: str) -> str:
    match = re.search(rf"https?://\S+{re.escape(path_prefix)}\S+", message.body)
    assert match, message.body
    return match.group(0)


def path_of(url: str) -> str:
    return urlsplit(url).path


def request_reset(browser: Client, email: str):
    return browser.post("/password/reset", {"email": email})


def reset_path(browser: Client, user: User, mailoutbox) -> str:
    request_reset(browser, user.email)
    return path_of(link_in(mailoutbox[-1], "/password/reset/"))


def set_new_password(browser: Client, path: str, password: str = NEW_PASSWORD):
    return browser.post(path, {"new_password1": password, "new_password2": password})


def events() -> list[str]:
    return list(AuditEvent.objects.order_by("at", "pk").values_list("event", flat=True))


# --- Password reset: asking for a link ---------------------------------------------------


def test_password_reset_page_is_linked_from_the_login_page(client):
    body = client.get("/login").content.decode()

    assert 'href="/password/reset"' in body
    assert "Forgot your password?" in body
    assert client.get("/password/reset").status_code == 200


def test_password_reset_answers_alike_for_known_unknown_and_inactive_emails(mailoutbox):
    known = UserFactory()
    inactive = UserFactory(is_active=False)

    answers = [
        request_reset(Client(), email)
        for email in (known.email, "nobody@example.test", inactive.email)
    ]

    assert {r.status_code for r in answers} == {200}
    assert len({r.content for r in answers}) == 1
    assert NEUTRAL in answers[0].content.decode()
    assert [m.to for m in mailoutbox] == [[known.email]]


def test_password_reset_matches_the_address_case_insensitively(client, user, mailoutbox):
    request_reset(client, "  " + user.email.upper())

    assert [m.to for m in mailoutbox] == [[user.email]]


def test_password_reset_link_is_built_from_the_issuer_not_the_host(
    client, user, mailoutbox, settings
):
    settings.IDP_ISSUER = "https://login.example.test"

    request_reset(client, user.email)

    link = link_in(mailoutbox[0], "/password/reset/")
    assert link.startswith("https://login.example.test/password/reset/")
    assert "testserver" not in mailoutbox[0].body
    assert "expires in 3 days" in mailoutbox[0].body


def test_password_reset_invalid_email_shows_the_form_again_and_sends_nothing(client, mailoutbox):
    response = request_reset(client, "not an address")

    assert response.status_code == 200
    assert NEUTRAL not in response.content.decode()
    assert mailoutbox == []


def test_password_reset_throttles_the_sixth_request_per_email_and_ip(client, user, mailoutbox):
    with time_machine.travel(timezone.now(), tick=False):
        answers = [request_reset(client, user.email) for _ in range(7)]

    assert [r.status_code for r in answers] == [200] * 5 + [429] * 2
    assert NEUTRAL in answers[5].content.decode()
    assert int(answers[5]["Retry-After"]) > 0
    assert len(mailoutbox) == 5


def test_password_reset_throttle_applies_to_unknown_addresses_too(client):
    with time_machine.travel(timezone.now(), tick=False):
        answers = [request_reset(client, "nobody@example.test") for _ in range(6)]

    assert answers[-1].status_code == 429


def test_password_reset_throttle_is_per_ip(user, mailoutbox):
    with time_machine.travel(timezone.now(), tick=False):
        for _ in range(5):
            request_reset(Client(REMOTE_ADDR="198.51.100.1"), user.email)
        elsewhere = request_reset(Client(REMOTE_ADDR="198.51.100.2"), user.email)

    assert elsewhere.status_code == 200
    assert len(mailoutbox) == 6


# --- Password reset: using the link ------------------------------------------------------


def test_password_reset_link_sets_a_new_password_once(client, user, mailoutbox):
    path = reset_path(client, user, mailoutbox)

    form = client.get(path)
    done = set_new_password(client, path)
    again_get = client.get(path)
    again_post = set_new_password(Client(), path, "Another-good passphrase 99")

    assert form.status_code == 200
    assert done.status_code == 200
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert again_get.status_code == 400
    assert again_post.status_code == 400
    assert "already been used" in again_get.content.decode()
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_password_reset_new_password_signs_in(client, user, mailoutbox):
    set_new_password(client, reset_path(client, user, mailoutbox))

    assert sign_in(user.email, NEW_PASSWORD)
    assert Client().post("/login", {"email": user.email, "password": PASSWORD}).status_code == 200


def test_password_reset_link_expires(client, user, mailoutbox):
    path = reset_path(client, user, mailoutbox)
    later = timezone.now() + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 60)

    with time_machine.travel(later, tick=False):
        response = set_new_password(client, path)

    assert response.status_code == 400
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_password_reset_default_timeout_is_djangos_three_days():
    assert settings.PASSWORD_RESET_TIMEOUT == 3 * 24 * 60 * 60


@pytest.mark.parametrize(
    "path",
    [
        "/password/reset/garbage/garbage",
        "/password/reset/MQ/garbage",
        "/password/reset/MQ/abc-def",
        "/password/reset/%FF%FE/x",
        "/password/reset/" + "A" * 400 + "/" + "z" * 400,
        "/password/reset/OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5/x-y",  # 999…9: overflows a bigint
        "/password/reset/LTE/1-1",  # "-1"
        "/password/reset/_w/1-1",  # not UTF-8
    ],
)
def test_password_reset_garbage_links_answer_400_not_500(client, path):
    get = client.get(path)
    post = client.post(path, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    assert get.status_code == 400
    assert post.status_code == 400
    assert "This link does not work" in get.content.decode()


def test_password_reset_link_of_another_user_does_not_work(client, user, mailoutbox):
    other = UserFactory()
    path = reset_path(client, user, mailoutbox)
    uidb64, token = path.rsplit("/", 2)[-2:]
    other_uid = reset_path(client, other, mailoutbox).rsplit("/", 2)[-2]

    response = client.get(f"/password/reset/{other_uid}/{token}")

    assert uidb64 != other_uid
    assert response.status_code == 400


def test_password_reset_link_dies_when_the_user_is_deactivated(client, user, mailoutbox):
    path = reset_path(client, user, mailoutbox)
    User.objects.filter(pk=user.pk).update(is_active=False)

    assert client.get(path).status_code == 400


def test_password_reset_refuses_a_weak_password_with_a_message(client, user, mailoutbox):
    path = reset_path(client, user, mailoutbox)

    response = set_new_password(client, path, "password123")

    assert response.status_code == 200
    assert "This password is too common." in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert client.get(path).status_code == 200  # the link still works


def test_password_reset_refuses_mismatched_passwords(client, user, mailoutbox):
    path = reset_path(client, user, mailoutbox)

    response = client.post(
        path, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD + "x"}
    )

    assert response.status_code == 200
    assert "fields didn" in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_password_reset_ends_every_session_of_the_user(client, user, mailoutbox):
    elsewhere = sign_in(user.email)
    bystander = UserFactory()
    unrelated = sign_in(bystander.email)

    set_new_password(client, reset_path(client, user, mailoutbox))

    assert is_signed_out(elsewhere)
    assert unrelated.get("/account").status_code == 200
    assert not SSOSession.objects.filter(user=user, ended_at__isnull=True).exists()
    assert set(SSOSession.objects.filter(user=user).values_list("end_reason", flat=True)) == {
        SSOSession.EndReason.PASSWORD_CHANGED
    }


def test_password_reset_from_a_browser_signed_in_as_that_user(user, mailoutbox):
    browser = sign_in(user.email)
    path = reset_path(browser, user, mailoutbox)

    response = set_new_password(browser, path)

    assert response.status_code == 200
    assert is_signed_out(browser)


def test_password_reset_writes_audit_events(client, user, mailoutbox):
    request_reset(client, "nobody@example.test")
    set_new_password(client, reset_path(client, user, mailoutbox))

    assert events() == [
        "password_reset_requested",
        "password_reset_requested",
        "password_reset_completed",
    ]
    unknown, known, completed = AuditEvent.objects.order_by("at", "pk")
    assert unknown.user is None
    assert unknown.details == {"attempted_email": "nobody@example.test", "account_found": False}
    assert known.user == user
    assert completed.user == user
    for event in AuditEvent.objects.all():
        text = str(event.details)
        assert NEW_PASSWORD not in text
        assert PASSWORD not in text


# --- Password change ---------------------------------------------------------------------


def change_password(browser: Client, old: str = PASSWORD, new: str = NEW_PASSWORD):
    return browser.post(
        "/account/password", {"old_password": old, "new_password1": new, "new_password2": new}
    )


def test_password_change_needs_sign_in(client):
    response = client.get("/account/password")

    assert response.status_code == 302
    assert response["Location"].startswith("/login")


def test_password_change_is_linked_from_the_account_page(user):
    body = sign_in(user.email).get("/account").content.decode()

    assert 'href="/account/password"' in body
    assert 'href="/account/email"' in body


def test_password_change_requires_the_old_password(user):
    browser = sign_in(user.email)

    response = change_password(browser, old="not the password")

    assert response.status_code == 200
    assert "Your old password was entered incorrectly" in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert events()[-1] == "password_change_failed"


def test_password_change_refuses_a_weak_password(user):
    browser = sign_in(user.email)

    response = change_password(browser, new="1234567890")

    assert response.status_code == 200
    assert "This password is entirely numeric." in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_password_change_ends_other_sessions_but_keeps_this_one(user):
    browser = sign_in(user.email)
    elsewhere = sign_in(user.email)
    current_sid = browser.session["portcullis_sid"]

    response = change_password(browser)

    assert response.status_code == 302
    assert response["Location"] == "/account"
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert browser.get("/account").status_code == 200
    assert is_signed_out(elsewhere)
    live = SSOSession.objects.filter(user=user, ended_at__isnull=True)
    assert list(live.values_list("sid", flat=True)) == [current_sid]
    # The session key changed with the password hash; the sign-in record follows it, so
    # "sign out" from another device still reaches this browser.
    assert live.get().session_key == browser.session.session_key
    assert events()[-1] == "password_changed"
    assert AuditEvent.objects.get(event="password_changed").details == {"sessions_ended": 1}


def test_password_change_throttles_guessing_the_old_password(user):
    browser = sign_in(user.email)

    with time_machine.travel(timezone.now(), tick=False):
        answers = [change_password(browser, old=f"guess {i}") for i in range(6)]
        right = change_password(browser)

    assert [r.status_code for r in answers] == [200] * 5 + [429]
    assert right.status_code == 429
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


# --- Email change ------------------------------------------------------------------------


def request_email_change(browser: Client, new_email: str, password: str = PASSWORD):
    return browser.post("/account/email", {"new_email": new_email, "password": password})


def verify_path(mailoutbox, to: str) -> str:
    message = next(m for m in mailoutbox if m.to == [to])
    return path_of(link_in(message, "/account/email/verify/"))


def test_email_change_end_to_end(user, mailoutbox):
    old_email = user.email
    browser = sign_in(user.email)

    sent = request_email_change(browser, "  New.Address@Example.TEST ")

    assert sent.status_code == 200
    assert "new.address@example.test" in sent.content.decode()
    assert sorted(m.to[0] for m in mailoutbox) == sorted([old_email, "new.address@example.test"])
    notice = next(m for m in mailoutbox if m.to == [old_email])
    assert "new.address@example.test" in notice.body
    assert "/account/email/verify/" not in notice.body
    link_mail = next(m for m in mailoutbox if m.to == ["new.address@example.test"])
    assert "expires in 24 hours" in link_mail.body
    user.refresh_from_db()
    assert user.email == old_email  # nothing changes before the link is opened

    path = verify_path(mailoutbox, "new.address@example.test")
    confirm = Client().get(path)
    done = Client().post(path)

    assert confirm.status_code == 200
    assert "new.address@example.test" in confirm.content.decode()
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.email == "new.address@example.test"
    assert user.email_verified is True
    assert browser.get("/account").status_code == 200
    assert sign_in("new.address@example.test")
    assert events()[-3:-1] == ["email_change_requested", "email_changed"]


def test_email_change_link_works_once(user, mailoutbox):
    browser = sign_in(user.email)
    request_email_change(browser, "new@example.test")
    path = verify_path(mailoutbox, "new@example.test")

    browser.post(path)
    again = browser.post(path)

    assert again.status_code == 400
    assert "already been used" in again.content.decode()


def test_email_change_older_link_dies_when_a_newer_one_is_used(user, mailoutbox):
    browser = sign_in(user.email)
    request_email_change(browser, "first@example.test")
    request_email_change(browser, "second@example.test")

    browser.post(verify_path(mailoutbox, "second@example.test"))
    late = browser.post(verify_path(mailoutbox, "first@example.test"))

    assert late.status_code == 400
    user.refresh_from_db()
    assert user.email == "second@example.test"


def test_email_change_link_link_is_built_from_the_issuer(user, mailoutbox, settings):
    browser = sign_in(user.email)
    settings.IDP_ISSUER = "https://login.example.test"

    request_email_change(browser, "new@example.test")

    message = next(m for m in mailoutbox if m.to == ["new@example.test"])
    assert link_in(message, "/account/email/verify/").startswith("https://login.example.test/")


def test_email_change_requires_the_current_password(user, mailoutbox):
    browser = sign_in(user.email)

    response = request_email_change(browser, "new@example.test", password="wrong")

    assert response.status_code == 200
    assert "Your password was entered incorrectly" in response.content.decode()
    assert mailoutbox == []
    assert events()[-1] == "email_change_failed"


def test_email_change_to_the_same_address_is_refused(user, mailoutbox):
    browser = sign_in(user.email)

    response = request_email_change(browser, user.email.upper())

    assert "already your email address" in response.content.decode()
    assert mailoutbox == []


def test_email_change_to_a_taken_address_answers_alike_and_sends_no_link(user, mailoutbox):
    owner = UserFactory(email="taken@example.test")
    browser = sign_in(user.email)

    taken = request_email_change(browser, "Taken@Example.test")
    free = request_email_change(browser, "free@example.test")

    assert taken.status_code == free.status_code == 200
    assert taken.content.decode().replace("taken@", "free@") == free.content.decode()
    to_owner = next(m for m in mailoutbox if m.to == [owner.email])
    assert "/account/email/verify/" not in to_owner.body
    assert user.email not in to_owner.body
    user.refresh_from_db()
    assert user.email != owner.email


def test_email_change_to_an_address_taken_since_is_refused_clearly(user, mailoutbox):
    browser = sign_in(user.email)
    request_email_change(browser, "new@example.test")
    path = verify_path(mailoutbox, "new@example.test")
    UserFactory(email="new@example.test")

    shown = browser.get(path)
    posted = browser.post(path)

    assert shown.status_code == posted.status_code == 409
    assert "belongs to another account" in posted.content.decode()
    user.refresh_from_db()
    assert user.email != "new@example.test"


def test_email_change_link_expires_after_24_hours(user, mailoutbox):
    browser = sign_in(user.email)
    request_email_change(browser, "new@example.test")
    path = verify_path(mailoutbox, "new@example.test")

    with time_machine.travel(timezone.now() + timedelta(hours=24, minutes=1), tick=False):
        response = Client().post(path)

    assert response.status_code == 400
    user.refresh_from_db()
    assert user.email != "new@example.test"


def test_email_change_link_still_works_within_24_hours(user, mailoutbox):
    browser = sign_in(user.email)
    request_email_change(browser, "new@example.test")
    path = verify_path(mailoutbox, "new@example.test")

    with time_machine.travel(timezone.now() + timedelta(hours=23), tick=False):
        response = Client().post(path)

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.email == "new@example.test"


@pytest.mark.parametrize("token", ["garbage", "a:b:c", "x" * 500, "eyJ1c2VyIjoxfQ:1abc:sig"])
def test_email_change_garbage_links_answer_400(client, token):
    assert client.get(f"/account/email/verify/{token}").status_code == 400
    assert client.post(f"/account/email/verify/{token}").status_code == 400


def test_email_change_token_for_another_purpose_is_refused(client, user):
    from django.core import signing

    forged = signing.dumps({"user": user.pk, "new": "x@example.test", "old": ""}, salt="other")

    assert client.post(f"/account/email/verify/{forged}").status_code == 400


def test_email_change_link_dies_when_the_user_is_deactivated(client, user):
    token = email_change_token_make(user=user, new_email="new@example.test")
    User.objects.filter(pk=user.pk).update(is_active=False)

    assert client.post(f"/account/email/verify/{token}").status_code == 400


def test_email_change_audit_never_holds_the_password_or_token(user, mailoutbox):
    browser = sign_in(user.email)
    request_email_change(browser, "new@example.test")
    path = verify_path(mailoutbox, "new@example.test")
    token = path.rsplit("/", 1)[-1]
    browser.post(path)

    requested = AuditEvent.objects.get(event="email_change_requested")
    changed = AuditEvent.objects.get(event="email_changed")
    assert requested.details == {"new_email": "new@example.test", "address_taken": False}
    assert changed.details["new_email"] == "new@example.test"
    assert changed.user == user
    for event in AuditEvent.objects.all():
        assert token not in str(event.details)
        assert PASSWORD not in str(event.details)


# --- CSRF ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "signed_in"),
    [
        ("/password/reset", False),
        ("/password/reset/{uid}/{token}", False),
        ("/account/password", True),
        ("/account/email", True),
        ("/account/email/verify/{email_token}", False),
    ],
)
def test_password_forms_enforce_csrf(user, mailoutbox, path, signed_in):
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    browser = Client(enforce_csrf_checks=True)
    if signed_in:
        browser.force_login(user)
    path = path.format(
        uid=urlsafe_base64_encode(force_bytes(user.pk)),
        token=default_token_generator.make_token(user),
        email_token=email_change_token_make(user=user, new_email="new@example.test"),
    )
    data = {"email": user.email, "old_password": PASSWORD, "password": PASSWORD,
            "new_email": "new@example.test", "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD}  # fmt: skip

    response = browser.post(path, data)

    assert response.status_code == 403
    assert mailoutbox == []
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert user.email != "new@example.test"
