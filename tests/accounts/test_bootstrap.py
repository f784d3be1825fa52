"""`manage.py bootstrap`: a first run that is safe to repeat."""

import io

import pytest
from django.core.management import call_command
from django.test import override_settings

from accounts.models import User

pytestmark = pytest.mark.django_db


def bootstrap(*args: str) -> str:
    out = io.StringIO()
    call_command("bootstrap", *args, "--no-migrate", stdout=out)
    return out.getvalue()


def password_from(output: str) -> str:
    return next(
        line.split(":", 1)[1].strip() for line in output.splitlines() if "password:" in line
    )


@override_settings(DEBUG=True)
def test_bootstrap_creates_an_admin_once_and_prints_a_working_password(client):
    first = bootstrap()
    second = bootstrap()

    admin = User.objects.get()
    assert admin.is_superuser
    assert admin.is_staff
    assert admin.check_password(password_from(first))
    assert "already exists" in second
    assert "password:" not in second


def test_bootstrap_with_debug_off_creates_nobody_without_the_flag():
    output = bootstrap()

    assert not User.objects.exists()
    assert "--create-admin" in output


def test_bootstrap_with_debug_off_and_the_flag_creates_the_admin():
    output = bootstrap("--create-admin", "--email", "Root@Example.test")

    admin = User.objects.get()
    assert admin.email == "root@example.test"
    assert admin.check_password(password_from(output))


@override_settings(DEBUG=True)
def test_bootstrap_leaves_existing_users_alone(user):
    bootstrap()

    user.refresh_from_db()
    assert User.objects.count() == 2
    assert not user.is_superuser
