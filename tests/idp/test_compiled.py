"""Compiled statements (idp/services/compiled.py) do what the ORM would."""

from datetime import timedelta

import pytest
from django.db.models.signals import post_save
from django.utils import timezone

from accounts.models import SSOSession, User
from idp.models import Token
from idp.services.compiled import claim_and_insert, first_row, insert_row, update_rows
from tests.idp.conftest import make_rp

pytestmark = pytest.mark.django_db


def test_first_row_matches_the_orm_and_reuses_its_sql(django_assert_num_queries):
    user = User.objects.create_user("lookup@example.test", "correct horse battery")
    rp = make_rp(name="Lookup RP")

    now = timezone.now()
    for n in range(2):
        Token.objects.create(token_hash=f"h{n}", client=rp.client, user=user, scope="openid",
                             claims={"userinfo": {"email": None}}, issued_at=now,
                             expires_at=now, resources=["https://api.example"])  # fmt: skip

    for n in range(2):
        with django_assert_num_queries(1):  # the user joined, not fetched after
            found = first_row(
                Token, {"revoked_at__isnull": True}, related=("user",), token_hash=f"h{n}"
            )
        expected = Token.objects.get(token_hash=f"h{n}")
        assert found.pk == expected.pk
        assert found.claims == {"userinfo": {"email": None}}  # JSON decoded
        assert found.resources == ["https://api.example"]
        assert found.expires_at == expected.expires_at  # aware datetime
        with django_assert_num_queries(0):
            assert found.user.email == "lookup@example.test"


def test_first_row_misses_and_constant_conditions():
    rp = make_rp(name="Lookup RP 2")

    now = timezone.now()
    Token.objects.create(token_hash="revoked", client=rp.client, issued_at=now,
                         expires_at=now, revoked_at=now)  # fmt: skip

    assert first_row(Token, token_hash="absent") is None
    assert first_row(Token, {"revoked_at__isnull": True}, token_hash="revoked") is None
    assert first_row(Token, token_hash="revoked").revoked_at is not None
    userless = first_row(Token, related=("user",), token_hash="revoked")
    assert userless.user is None  # LEFT JOIN: a client's own token has no user


def test_first_row_falls_back_to_the_orm_for_sql_with_more_params():
    rp = make_rp(name="Lookup RP 3")

    now = timezone.now()
    Token.objects.create(token_hash="fb", format="jwt", client=rp.client, issued_at=now,
                         expires_at=now)  # fmt: skip
    # A constant that compiles to a parameter: the plan is refused, the ORM answers.
    for _ in range(2):
        assert first_row(Token, {"format": "jwt"}, token_hash="fb").token_hash == "fb"
        assert first_row(Token, {"format": "opaque"}, token_hash="fb") is None


def test_first_row_refuses_none():
    with pytest.raises(ValueError, match="cannot be None"):
        first_row(Token, token_hash=None)


def test_insert_row_stores_what_save_would_and_sets_the_pk(django_assert_num_queries):

    user = User.objects.create_user("insert@example.test", "correct horse battery")
    rp = make_rp(name="Insert RP")
    now = timezone.now()
    for n in range(2):  # the second one runs the compiled SQL
        with django_assert_num_queries(1):
            token = insert_row(Token(token_hash=f"i{n}", format="jwt", client=rp.client,
                                     user=user, claims={"id_token": {"acr": None}},
                                     resources=["https://api.example"], issued_at=now,
                                     expires_at=now))  # fmt: skip
        assert token.pk is not None
        assert not token._state.adding
        stored = Token.objects.get(pk=token.pk)
        assert (stored.token_hash, stored.user_id, stored.client_id) == (
            f"i{n}",
            user.pk,
            rp.client.pk,
        )
        assert stored.claims == {"id_token": {"acr": None}}
        assert stored.resources == ["https://api.example"]
        assert stored.expires_at == now


def test_insert_row_ignoring_conflicts_keeps_the_existing_row():

    user = User.objects.create_user("link@example.test", "correct horse battery")
    rp = make_rp(name="Link RP")
    now = timezone.now()
    session = SSOSession.objects.create(sid="s1", user=user, auth_time=0, created_at=now,
                                        last_seen_at=now, expires_at=now)  # fmt: skip
    link = SSOSession.clients.through
    for _ in range(3):
        insert_row(link(ssosession_id=session.pk, client_id=rp.client.pk), ignore_conflicts=True)
    assert list(session.clients.all()) == [rp.client]


def test_insert_row_leaves_models_with_save_listeners_to_the_orm():

    seen = []

    def listener(sender, instance, created, **kwargs):
        seen.append((instance.token_hash, created))

    rp = make_rp(name="Signal RP")
    now = timezone.now()
    post_save.connect(listener, sender=Token)
    try:
        insert_row(Token(token_hash="sig", format="opaque", client=rp.client, issued_at=now,
                         expires_at=now))  # fmt: skip
    finally:
        post_save.disconnect(listener, sender=Token)
    assert seen == [("sig", True)]


def test_update_rows_counts_what_it_changed(django_assert_num_queries):

    rp = make_rp(name="Update RP")
    now = timezone.now()
    tokens = [Token.objects.create(token_hash=f"u{n}", format="jwt", client=rp.client,
                                   issued_at=now, expires_at=now) for n in range(2)]  # fmt: skip
    for token in tokens:
        with django_assert_num_queries(1):
            changed = update_rows(Token, {"revoked_at__isnull": True},
                                  values={"revoked_at": now}, pk=token.pk)  # fmt: skip
        assert changed == 1
        # Already revoked: the constant condition no longer matches.
        assert update_rows(Token, {"revoked_at__isnull": True}, values={"revoked_at": now},
                           pk=token.pk) == 0  # fmt: skip
        token.refresh_from_db()
        assert token.revoked_at == now
    assert update_rows(Token, {"revoked_at__isnull": True}, values={"revoked_at": now},
                       pk=10**9) == 0  # fmt: skip


def test_update_rows_with_a_datetime_condition():

    rp = make_rp(name="Update RP 2")
    now = timezone.now()
    Token.objects.create(token_hash="live", format="jwt", client=rp.client, issued_at=now,
                         expires_at=now + timedelta(minutes=5))  # fmt: skip
    Token.objects.create(token_hash="expired", format="jwt", client=rp.client, issued_at=now,
                         expires_at=now - timedelta(minutes=5))  # fmt: skip
    for token_hash, expected in (("live", 1), ("expired", 0), ("live", 1)):
        assert update_rows(Token, values={"scope": "x"}, token_hash=token_hash,
                           expires_at__gt=now) == expected  # fmt: skip


def test_claim_and_insert_is_all_or_nothing():
    rp = make_rp(name="Claim RP")
    now = timezone.now()
    claimed = Token.objects.create(token_hash="claimed", format="jwt", client=rp.client,
                                   issued_at=now, expires_at=now)  # fmt: skip

    def issued(token_hash):
        return Token(token_hash=token_hash, format="jwt", client=rp.client, issued_at=now,
                     expires_at=now)  # fmt: skip

    assert claim_and_insert(claim=(claimed, "revoked_at", now), objs=[issued("x"), issued("y")])
    assert not claim_and_insert(claim=(claimed, "revoked_at", now), objs=[issued("z")])
    assert set(Token.objects.values_list("token_hash", flat=True)) == {"claimed", "x", "y"}
