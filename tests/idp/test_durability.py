"""Which transactions wait for the disk (idp/durability.py): token issuance may skip the
WAL flush, anything that revokes never does. PostgreSQL only: SQLite has no such switch."""

import pytest
from django.db import connection, transaction
from django.test import override_settings

from idp.durability import commit_durably, commit_without_waiting
from idp.models import RefreshToken
from idp.services.refresh import refresh_family_revoke

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only"),
]


def synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


def test_issuing_transaction_skips_the_flush_and_only_that_transaction():
    with transaction.atomic():
        commit_without_waiting()
        assert synchronous_commit() == "off"
    assert synchronous_commit() == "on"


def test_a_revocation_inside_an_issuing_transaction_waits_again():
    with transaction.atomic():
        commit_without_waiting()
        refresh_family_revoke(family="no-such-family", reason="reuse")
        assert synchronous_commit() == "on"
    assert not RefreshToken.objects.filter(family="no-such-family").exists()


@override_settings(IDP_ASYNC_TOKEN_COMMIT=False)
def test_the_setting_turns_it_off():
    with transaction.atomic():
        commit_without_waiting()
        assert synchronous_commit() == "on"


def test_commit_durably_outside_a_transaction_changes_nothing():
    commit_durably()
    commit_without_waiting()
    assert synchronous_commit() == "on"
