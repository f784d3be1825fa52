"""Rotation run by several workers at once: real connections, real locks."""

from datetime import UTC, datetime, timedelta

import pytest

from idp.models import SigningKey
from idp.services import keys
from tests.idp.conftest import run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_concurrent_first_rotation_creates_exactly_one_active_key_per_alg():
    errors = run_concurrently(lambda: keys.signing_key_rotate(now=T0))

    assert errors == []
    for alg in ("RS256", "ES256", "EdDSA"):
        assert SigningKey.objects.filter(alg=alg, state="active").count() == 1
        assert SigningKey.objects.filter(alg=alg).count() == 1


def test_concurrent_due_rotation_rotates_exactly_once():
    keys.signing_key_rotate(now=T0)
    keys.signing_key_rotate(now=T0 + timedelta(days=28))
    due = T0 + timedelta(days=30)

    errors = run_concurrently(lambda: keys.signing_key_rotate(now=due))

    assert errors == []
    for alg in ("RS256", "ES256", "EdDSA"):
        assert SigningKey.objects.filter(alg=alg, state="active").count() == 1
        assert SigningKey.objects.filter(alg=alg, state="retired").count() == 1
        assert SigningKey.objects.filter(alg=alg, state="next").count() == 0


def test_concurrent_forced_rotations_never_leave_two_active_keys():
    keys.signing_key_rotate(now=T0)

    errors = run_concurrently(lambda: keys.signing_key_rotate(now=T0, force=True), workers=3)

    assert errors == []
    for alg in ("RS256", "ES256", "EdDSA"):
        assert SigningKey.objects.filter(alg=alg, state="active").count() == 1
        assert SigningKey.objects.filter(alg=alg, state="retired").count() == 3
