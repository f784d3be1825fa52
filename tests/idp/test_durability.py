"""The token endpoint's transaction (idp/durability.py): what it issues is written in one
statement just before it commits, that commit may skip the flush, and anything that revokes
makes it wait again. PostgreSQL only: SQLite has no such switch."""

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from idp.durability import (
    commit_durably,
    flush_issuing_writes,
    insert_without_waiting,
    issuing_transaction,
    queue_insert,
)
from idp.models import AuthorizationCode, RefreshToken, Token
from idp.services.refresh import refresh_family_revoke
from tests.idp.conftest import make_rp

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only"),
]


def synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


def token(client, token_hash: str) -> Token:
    now = timezone.now()
    return Token(token_hash=token_hash, format="jwt", client=client, issued_at=now,
                 expires_at=now)  # fmt: skip


@pytest.fixture
def client(db):
    return make_rp(name="Durability RP").client


def test_what_is_issued_goes_out_in_one_statement_that_skips_the_flush(client):
    with issuing_transaction():
        with CaptureQueriesContext(connection) as queries:
            queue_insert(token(client, "a"))
            queue_insert(token(client, "b"))
            assert not Token.objects.filter(token_hash__in=["a", "b"]).exists()  # queued
            flush_issuing_writes()
        assert synchronous_commit() == "off"  # this transaction only
        writes = [q["sql"] for q in queries.captured_queries if "INSERT" in q["sql"]]
        assert len(writes) == 1
    assert synchronous_commit() == "on"
    assert set(Token.objects.values_list("token_hash", flat=True)) == {"a", "b"}


def test_a_revocation_inside_an_issuing_transaction_waits_again(client):
    with issuing_transaction():
        queue_insert(token(client, "c"))
        refresh_family_revoke(family="no-such-family", reason="reuse")
        flush_issuing_writes()
        assert synchronous_commit() == "on"
    assert Token.objects.filter(token_hash="c").exists()
    assert not RefreshToken.objects.filter(family="no-such-family").exists()


def test_commit_durably_keeps_the_flush(client):
    with issuing_transaction():
        queue_insert(token(client, "d"))
        commit_durably()
        flush_issuing_writes()
        assert synchronous_commit() == "on"


def test_an_error_inside_writes_nothing(client):
    def failing_request():
        with issuing_transaction():
            queue_insert(token(client, "e"))
            raise RuntimeError("the request failed")

    with pytest.raises(RuntimeError):
        failing_request()
    assert not Token.objects.filter(token_hash="e").exists()


@override_settings(IDP_ASYNC_TOKEN_COMMIT=False)
def test_the_setting_turns_the_skip_off(client):
    with issuing_transaction():
        queue_insert(token(client, "f"))
        flush_issuing_writes()
        assert synchronous_commit() == "on"
    assert Token.objects.filter(token_hash="f").exists()


def test_outside_an_issuing_transaction_inserts_at_once(client):
    queue_insert(token(client, "g"))
    assert Token.objects.filter(token_hash="g").exists()
    assert synchronous_commit() == "on"


def authorization_code(client, code_hash: str):
    now = timezone.now()
    user = User.objects.create_user(f"{code_hash}@example.test", "correct horse battery")
    return AuthorizationCode(code_hash=code_hash, client=client, user=user,
                             redirect_uri="https://rp.example/cb", auth_time=0, created_at=now,
                             expires_at=now)  # fmt: skip


def test_a_code_is_one_statement_and_the_switch_does_not_outlive_it(client):
    code = authorization_code(client, "code-1")
    with CaptureQueriesContext(connection) as queries:
        insert_without_waiting(code)
    assert len([q for q in queries.captured_queries if "INSERT" in q["sql"]]) == 1
    assert AuthorizationCode.objects.filter(code_hash="code-1").exists()  # committed
    assert synchronous_commit() == "on"  # the next statement waits again


def test_a_code_inside_someone_elses_transaction_leaves_its_durability_alone(client):
    with transaction.atomic():
        insert_without_waiting(authorization_code(client, "code-2"))
        assert synchronous_commit() == "on"
    assert AuthorizationCode.objects.filter(code_hash="code-2").exists()
