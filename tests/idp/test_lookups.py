"""Compiled lookups (idp/services/lookups.py) return what the ORM would."""

import pytest

from accounts.models import User
from idp.models import Token
from idp.services.lookups import first_row, with_user
from tests.idp.conftest import make_rp

pytestmark = pytest.mark.django_db


def test_first_row_matches_the_orm_and_reuses_its_sql(django_assert_num_queries):
    user = User.objects.create_user("lookup@example.test", "correct horse battery")
    rp = make_rp(name="Lookup RP")
    from django.utils import timezone

    now = timezone.now()
    for n in range(2):
        Token.objects.create(token_hash=f"h{n}", client=rp.client, user=user, scope="openid",
                             claims={"userinfo": {"email": None}}, issued_at=now,
                             expires_at=now, resources=["https://api.example"])  # fmt: skip

    for n in range(2):
        with django_assert_num_queries(2):
            found = with_user(first_row(Token, {"revoked_at__isnull": True}, token_hash=f"h{n}"))
        expected = Token.objects.get(token_hash=f"h{n}")
        assert found.pk == expected.pk
        assert found.claims == {"userinfo": {"email": None}}  # JSON decoded
        assert found.resources == ["https://api.example"]
        assert found.expires_at == expected.expires_at  # aware datetime
        assert found.user.email == "lookup@example.test"


def test_first_row_misses_and_constant_conditions():
    rp = make_rp(name="Lookup RP 2")
    from django.utils import timezone

    now = timezone.now()
    Token.objects.create(token_hash="revoked", client=rp.client, issued_at=now,
                         expires_at=now, revoked_at=now)  # fmt: skip

    assert first_row(Token, token_hash="absent") is None
    assert first_row(Token, {"revoked_at__isnull": True}, token_hash="revoked") is None
    assert first_row(Token, token_hash="revoked").revoked_at is not None
    assert with_user(None) is None


def test_first_row_refuses_none():
    with pytest.raises(ValueError, match="cannot be None"):
        first_row(Token, token_hash=None)
