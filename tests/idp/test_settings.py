"""Configuration read from the environment: each case starts a fresh interpreter."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FERNET_KEY = "q0bLQ0Zw8b7Lr7d0yS3o6PqY4m2Yb1W0cZsO8G0dXy4="
STRONG_KEY = "k" * 20 + "-Q9x!e7Rb2VmL0pZt4Hs8Nw1Cy6Ud3Fj5Ka"


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    drop = {"SECRET_KEY", "DEBUG", "IDP_ISSUER", "IDP_KEY_ENCRYPTION_KEYS"}
    clean = {k: v for k, v in os.environ.items() if k not in drop}
    clean["DJANGO_SETTINGS_MODULE"] = "idp.settings"
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def setting(name: str, **env: str) -> str:
    result = run(["-c", f"from django.conf import settings; print(settings.{name})"], **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_settings_without_secret_key_and_debug_off_fail_naming_the_variable():
    result = run(["manage.py", "check"], DEBUG="0")

    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr


def test_check_deploy_is_clean_with_debug_off_and_a_secret_key():
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        DEBUG="0",
        SECRET_KEY=STRONG_KEY,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_is_clean_for_an_https_issuer():
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        DEBUG="0",
        SECRET_KEY=STRONG_KEY,
        IDP_ISSUER="https://id.example.com",
        IDP_KEY_ENCRYPTION_KEYS=FERNET_KEY,
        REDIS_URL="redis://127.0.0.1:6379/0",
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_requires_redis_for_a_public_issuer():
    result = run(
        ["manage.py", "check", "--deploy"],
        DEBUG="0",
        SECRET_KEY=STRONG_KEY,
        IDP_ISSUER="https://id.example.com",
        IDP_KEY_ENCRYPTION_KEYS=FERNET_KEY,
        REDIS_URL="",
    )

    assert result.returncode != 0
    assert "idp.E004" in result.stderr


def test_check_deploy_requires_a_key_encryption_key_for_a_public_issuer():
    result = run(
        ["manage.py", "check", "--deploy"],
        DEBUG="0",
        SECRET_KEY=STRONG_KEY,
        IDP_ISSUER="https://id.example.com",
        IDP_KEY_ENCRYPTION_KEYS="",
    )

    assert result.returncode != 0
    assert "idp.E003" in result.stderr


def test_check_deploy_refuses_a_plain_http_public_issuer():
    result = run(
        ["manage.py", "check", "--deploy"],
        DEBUG="0",
        SECRET_KEY=STRONG_KEY,
        IDP_ISSUER="http://id.example.com",
    )

    assert result.returncode != 0
    assert "idp.E002" in result.stderr


@pytest.mark.parametrize(
    ("issuer", "secure"), [("https://id.example.com", "True"), ("http://127.0.0.1:8000", "False")]
)
def test_session_cookie_is_secure_whenever_the_issuer_is_https(issuer, secure):
    assert setting("SESSION_COOKIE_SECURE", SECRET_KEY=STRONG_KEY, IDP_ISSUER=issuer) == secure
    assert setting("CSRF_COOKIE_SECURE", SECRET_KEY=STRONG_KEY, IDP_ISSUER=issuer) == secure


def test_https_issuer_uses_host_prefixed_cookies():
    name = setting(
        "SESSION_COOKIE_NAME", SECRET_KEY=STRONG_KEY, IDP_ISSUER="https://id.example.com"
    )

    assert name.startswith("__Host-")


def test_argon2_is_the_first_password_hasher_in_production():
    hasher = setting("PASSWORD_HASHERS[0]", SECRET_KEY=STRONG_KEY)

    assert hasher == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_issuer_host_is_allowed_and_never_taken_from_the_request():
    hosts = setting("ALLOWED_HOSTS", SECRET_KEY=STRONG_KEY, IDP_ISSUER="https://id.example.com")

    assert "id.example.com" in hosts


def test_database_url_selects_postgresql():
    engine = setting(
        "DATABASES['default']['ENGINE']",
        SECRET_KEY=STRONG_KEY,
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/test",
    )

    assert engine == "idp.db.postgresql"  # Django's, with a cheaper health check


def test_redis_url_unset_means_eager_tasks_and_local_cache():
    eager = setting("CELERY_TASK_ALWAYS_EAGER", SECRET_KEY=STRONG_KEY, REDIS_URL="")
    cache = setting("CACHES['default']['BACKEND']", SECRET_KEY=STRONG_KEY, REDIS_URL="")

    assert eager == "True"
    assert cache.endswith("LocMemCache")


def test_redis_url_set_means_broker_and_redis_cache():
    url = "redis://127.0.0.1:6379/0"
    eager = setting("CELERY_TASK_ALWAYS_EAGER", SECRET_KEY=STRONG_KEY, REDIS_URL=url)
    broker = setting("CELERY_BROKER_URL", SECRET_KEY=STRONG_KEY, REDIS_URL=url)

    assert eager == "False"
    assert broker == url


def test_check_deploy_refuses_a_malformed_key_encryption_key():
    result = run(
        ["manage.py", "check", "--deploy"],
        DEBUG="0",
        SECRET_KEY=STRONG_KEY,
        IDP_ISSUER="https://id.example.com",
        IDP_KEY_ENCRYPTION_KEYS="not-a-fernet-key",
        REDIS_URL="redis://127.0.0.1:6379/0",
    )

    assert result.returncode != 0
    assert "idp.E005" in result.stderr
