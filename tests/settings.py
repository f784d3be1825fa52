"""Settings for the test suite: the production settings module, with test-only inputs.

The environment still decides the database and Redis (CI sets DATABASE_URL and REDIS_URL to
the real PostgreSQL and Redis); only what a test run must not depend on is fixed here.
"""

import os
import tempfile
import uuid
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-" + "x" * 20)
os.environ.setdefault("DEBUG", "0")

from idp.settings import *  # noqa: E402,F403
from idp.settings import CACHES, DATABASES, REDIS_URL, STORAGES  # noqa: E402

# Human passwords are hashed with Argon2 in production (see idp/settings.py and the test that
# pins it); here a fast hasher keeps hundreds of factory users cheap.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # noqa: S303

# Serve static files from the source tree without a collectstatic step.
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

if REDIS_URL:
    # Each run gets its own key space in the shared Redis.
    CACHES = {
        "default": {**CACHES["default"], "KEY_PREFIX": f"portcullis-test-{uuid.uuid4().hex[:12]}"}
    }

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not Django's shared in-memory database: threads and worker processes in the
    # concurrency and Celery tests need real connections with real locking.
    test_db = Path(tempfile.gettempdir()) / f"portcullis-test-{uuid.uuid4().hex[:12]}.sqlite3"
    DATABASES["default"]["TEST"] = {"NAME": str(test_db)}
