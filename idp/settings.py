"""Django settings for Portcullis, read from the environment in this one place.

Every value has a default that gives a zero-setup local run (SQLite, no Redis, tasks run
eagerly); production is switched on by environment variables, not by a second settings file.
The table in README.md lists every variable.
"""

import secrets
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)

# Runtime state of a local run (SQLite database, the generated development secret).
DATA_DIR = Path(env.str("IDP_DATA_DIR", default=str(BASE_DIR / "var")))


def _development_secret_key() -> str:
    """A random key kept under DATA_DIR, so that sessions and derived keys survive restarts."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / "dev-secret-key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is required when DEBUG is off: set the SECRET_KEY environment variable "
            "to a long random value (for example: python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))'), or set DEBUG=1 for a local development run."
        )
    SECRET_KEY = _development_secret_key()

# Previous SECRET_KEYs, still accepted for what they signed (sessions, reset links, recovery
# codes) while you roll over to a new SECRET_KEY.
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])

# --- Issuer: the public URL of this provider, the source of truth for every URL we emit ---
IDP_ISSUER = env.str("IDP_ISSUER", default="http://127.0.0.1:8000").rstrip("/")
_issuer = urlsplit(IDP_ISSUER)
ISSUER_IS_HTTPS = _issuer.scheme == "https"
ISSUER_IS_LOOPBACK = (_issuer.hostname or "") in {"localhost", "127.0.0.1", "::1"}

# Protocol knobs (lifetimes, registration, …): IDP_<NAME> from the environment overrides the
# default in idp/conf.py, which documents each one.
from idp.conf import DEFAULTS as _IDP_DEFAULTS  # noqa: E402
from idp.conf import coerce as _idp_coerce  # noqa: E402

for _name in _IDP_DEFAULTS:
    if _name != "ISSUER" and f"IDP_{_name}" in env.ENVIRON:
        globals()[f"IDP_{_name}"] = _idp_coerce(_name, env.str(f"IDP_{_name}"))

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
if _issuer.hostname and _issuer.hostname not in ALLOWED_HOSTS and "*" not in ALLOWED_HOSTS:
    ALLOWED_HOSTS.append(_issuer.hostname)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django_prometheus",
    "django.contrib.staticfiles",
    "accounts",
    "clients",
    "idp",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "idp.middleware.RequestIdMiddleware",
    "idp.middleware.RejectNulMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "idp.middleware.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.SSOSessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

# ModelBackend with a compiled per-request user lookup (accounts/backends.py). One backend:
# a failed sign-in runs the password hasher once.
AUTHENTICATION_BACKENDS = ["accounts.backends.UserBackend"]

ROOT_URLCONF = "idp.urls"
WSGI_APPLICATION = "idp.wsgi.application"
ASGI_APPLICATION = "idp.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Comma-separated Fernet keys encrypting private signing keys at rest (see idp/encryption.py).
IDP_KEY_ENCRYPTION_KEYS = env.list("IDP_KEY_ENCRYPTION_KEYS", default=[])

# --- Database ---
DATABASES = {
    "default": env.db_url(
        "DATABASE_URL", default=f"sqlite:///{(DATA_DIR / 'portcullis.sqlite3').as_posix()}"
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    # Writers queue up (BEGIN IMMEDIATE + busy timeout) instead of failing "database locked".
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
else:
    # Django's backend, with a health check that costs no round trip (idp/db/postgresql).
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"]["ENGINE"] = "idp.db.postgresql"
    # Persistent connections: a token request should not pay for a new TCP + auth handshake.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if env.bool("DATABASE_SERVER_SIDE_BINDING", default=True):
        # psycopg sends parameters separately and prepares a statement the fifth time it
        # sees it, so PostgreSQL parses and plans each hot query once per connection, not per
        # request (Django turns preparing off unless prepare_threshold is set). Planning was
        # most of PostgreSQL's CPU per token request (docs/performance.md).
        # Off (DATABASE_SERVER_SIDE_BINDING=0) behind a pgbouncer in transaction mode.
        DATABASES["default"].setdefault("OPTIONS", {}).update(
            server_side_binding=True,
            prepare_threshold=env.int("DATABASE_PREPARE_THRESHOLD", default=5),
        )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, sessions and the Celery broker; unset means a zero-setup local run ---
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "idp.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            # Fail fast when Redis is down: a request must not hang on it.
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
            "KEY_PREFIX": env.str("IDP_CACHE_PREFIX", default="portcullis"),
        }
    }
    # Sessions are written to the database and read through Redis: a Redis restart signs
    # nobody out.
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    SESSION_ENGINE = "django.contrib.sessions.backends.db"

# --- Celery ---
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
# A task whose worker died unacknowledged is redelivered after this long (acks_late).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    # How often a worker looks for such messages (seconds × every Nth look); kombu's defaults.
    "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_INTERVAL", default=10),
    "unacked_restore_throttle": env.int("CELERY_UNACKED_RESTORE_THROTTLE", default=10),
}

# --- Authentication ---
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:account"
LOGOUT_REDIRECT_URL = "accounts:login"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Cookies and transport security: Secure whenever the issuer is https ---
SESSION_COOKIE_SECURE = ISSUER_IS_HTTPS
CSRF_COOKIE_SECURE = ISSUER_IS_HTTPS
# The __Host- prefix pins the cookie to this exact host over https (no Domain, Path=/).
SESSION_COOKIE_NAME = "__Host-portcullis_session" if ISSUER_IS_HTTPS else "portcullis_session"
CSRF_COOKIE_NAME = "__Host-portcullis_csrf" if ISSUER_IS_HTTPS else "portcullis_csrf"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env.int("IDP_SESSION_COOKIE_AGE", default=60 * 60 * 12)
CSRF_TRUSTED_ORIGINS = [f"{_issuer.scheme}://{_issuer.netloc}"]

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=ISSUER_IS_HTTPS)
# Load balancers probe over plain http inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if ISSUER_IS_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    # Only behind a TLS-terminating proxy that sets (and strips client-sent) X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

SILENCED_SYSTEM_CHECKS = [
    # HSTS for sibling subdomains and browser preload lists is the organisation's policy,
    # not the identity provider's: opt in with SECURE_HSTS_INCLUDE_SUBDOMAINS / _PRELOAD.
    "security.W005",
    "security.W021",
]
if not ISSUER_IS_HTTPS and ISSUER_IS_LOOPBACK:
    # A loopback http issuer is a local run with no TLS to redirect to or pin cookies to.
    # idp.checks refuses a plain-http issuer on any other host when DEBUG is off.
    SILENCED_SYSTEM_CHECKS += ["security.W004", "security.W008", "security.W012", "security.W016"]

# --- Request limits: bad input gets a 400, not memory exhaustion ---
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=256 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200

# --- Internationalisation ---
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files, served by whitenoise (no CDN) ---
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=DEBUG)
WHITENOISE_AUTOREFRESH = DEBUG

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="portcullis@localhost")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)

# --- Logging: one line per event to stderr (stdout stays the data channel of CLI commands);
# JSON with the request id in production, plain text with DEBUG on.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "idp.logging.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "idp.logging.JsonFormatter"},
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["stderr"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
