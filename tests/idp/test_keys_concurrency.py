"""Rotation run by several workers at once: real connections, real locks."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from idp.models import SigningKey
from idp.services import keys

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def run_concurrently(target, workers: int = 4) -> list[BaseException]:
    """Start `workers` threads (each with its own database connection) at one barrier."""
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def worker():
        try:
            barrier.wait(timeout=30)
            target()
        except BaseException as exc:  # noqa: BLE001  (reported to the test below)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


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
