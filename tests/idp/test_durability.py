"""How a token request writes (idp/durability.py): what it redeems and what it issues in one
statement, all or nothing, whose commit may skip the flush; anything that revokes makes it
wait again. PostgreSQL only: SQLite has no such switch."""

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from idp.durability import (
    claim_on_issue,
    commit_durably,
    insert_without_waiting,
    issuing,
    queue_insert,
)
from idp.models import AuthorizationCode, Token
from tests.idp.conftest import make_rp, postgresql_only, sql_value

pytestmark = [pytest.mark.django_db(transaction=True), postgresql_only]


def synchronous_commit() -> str:
    return sql_value("SHOW synchronous_commit")


def token(client, token_hash: str) -> Token:
    now = timezone.now()
    return Token(token_hash=token_hash, format="jwt", client=client, issued_at=now,
                 expires_at=now)  # fmt: skip


@pytest.fixture
def client(db):
    return make_rp(name="Durability RP").client


def test_what_is_issued_goes_out_in_one_statement_that_skips_the_flush(client):
    with CaptureQueriesContext(connection) as queries, issuing():
        queue_insert(token(client, "a"))
        queue_insert(token(client, "b"))
        assert not Token.objects.filter(token_hash__in=["a", "b"]).exists()  # queued
    writes = [q["sql"] for q in queries.captured_queries if "INSERT" in q["sql"]]
    assert len(writes) == 1
    assert "set_config('synchronous_commit', 'off', true)" in writes[0]
    assert synchronous_commit() == "on"  # that statement's transaction only
    assert set(Token.objects.values_list("token_hash", flat=True)) == {"a", "b"}


def test_a_claim_and_what_it_pays_for_are_all_or_nothing(client):
    code = authorization_code(client, "claimed")
    code.save()
    lost = []
    for name in ("first", "second"):
        with issuing() as issued:
            claim_on_issue(code, field="used_at", value=timezone.now(),
                           on_lost=lambda name=name: lost.append(name))  # fmt: skip
            queue_insert(token(client, name))
        assert issued.claim_lost is (name == "second")
    assert lost == ["second"]
    assert list(Token.objects.values_list("token_hash", flat=True)) == ["first"]
    code.refresh_from_db()
    assert code.used_at is not None


def test_commit_durably_keeps_the_flush(client):
    with CaptureQueriesContext(connection) as queries, issuing():
        queue_insert(token(client, "d"))
        commit_durably()
    assert not any("set_config" in q["sql"] for q in queries.captured_queries)
    assert Token.objects.filter(token_hash="d").exists()


def test_an_error_inside_writes_nothing(client):
    def failing_request():
        with issuing():
            queue_insert(token(client, "e"))
            raise RuntimeError("the request failed")

    with pytest.raises(RuntimeError):
        failing_request()
    assert not Token.objects.filter(token_hash="e").exists()


@override_settings(IDP_ASYNC_TOKEN_COMMIT=False)
def test_the_setting_turns_the_skip_off(client):
    with CaptureQueriesContext(connection) as queries, issuing():
        queue_insert(token(client, "f"))
    assert not any("set_config" in q["sql"] for q in queries.captured_queries)
    assert Token.objects.filter(token_hash="f").exists()


def test_outside_an_issuing_block_inserts_at_once(client):
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
