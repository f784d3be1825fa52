"""The IDP_* protocol settings: one object with documented defaults.

    from idp.conf import idp_settings
    expires_at = now + idp_settings.AUTHORIZATION_CODE_TTL

Each value comes from the Django setting IDP_<NAME>, which idp/settings.py fills from the
environment variable of the same name (durations in seconds), and falls back to DEFAULTS.
The object reloads on Django's `setting_changed` signal, so `override_settings` works in tests.
"""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

DEFAULTS: dict[str, Any] = {
    # The public URL of this provider; every URL we emit is built from it, never from Host.
    "ISSUER": "http://127.0.0.1:8000",
    # --- Token lifetimes (per-client values override the last three) ---
    "AUTHORIZATION_CODE_TTL": timedelta(seconds=60),
    "ACCESS_TOKEN_TTL": timedelta(minutes=10),
    "ID_TOKEN_TTL": timedelta(minutes=10),
    "REFRESH_TOKEN_TTL": timedelta(days=30),
    # A refresh token unused this long expires, even within the absolute lifetime above.
    "REFRESH_TOKEN_IDLE_TTL": timedelta(days=14),
    # How long a pending authorization request waits for the user to sign in and consent.
    "AUTHORIZATION_REQUEST_TTL": timedelta(minutes=30),
    # `aud` of JWT access tokens when the request names no resource (RFC 9068 §3);
    # empty = the issuer, which our own userinfo endpoint accepts.
    "ACCESS_TOKEN_AUDIENCE": "",
    # --- Single sign-on sessions and logout ---
    # A sign-in ends after this long, whatever the activity…
    "SSO_SESSION_TTL": timedelta(hours=12),
    # …or after this long without any request.
    "SSO_SESSION_IDLE_TTL": timedelta(hours=2),
    # Back-channel logout: attempts, and the first retry delay (it doubles each time).
    "BACKCHANNEL_LOGOUT_ATTEMPTS": 10,
    "BACKCHANNEL_LOGOUT_RETRY_DELAY": timedelta(seconds=5),
    "BACKCHANNEL_LOGOUT_TIMEOUT": timedelta(seconds=5),
    # Bearer token a Prometheus scraper presents at /metrics; empty = private networks only.
    "METRICS_TOKEN": "",
    # --- Account security ---
    # Audit events older than this are pruned (daily).
    "AUDIT_RETENTION": timedelta(days=365),
    # Failed sign-ins (password, code) from one IP for one account before delays start;
    # delays then double up to the maximum. Per account overall, the limit is far higher,
    # so an attacker elsewhere cannot lock the real user out.
    "THROTTLE_ACCOUNT_IP_FREE": 5,
    "THROTTLE_ACCOUNT_FREE": 100,
    "THROTTLE_IP_FREE": 200,
    "THROTTLE_MAX_DELAY": timedelta(minutes=15),
    "THROTTLE_WINDOW": timedelta(hours=1),
    # --- Client secrets ---
    # Key of the HMAC that client secrets are stored under; empty = derived from SECRET_KEY.
    # Set it explicitly if SECRET_KEY may be rotated, or every client secret stops working.
    "CLIENT_SECRET_HMAC_KEY": "",
    # How long the previous secret keeps working after a rotation (0 = not at all).
    "CLIENT_SECRET_GRACE_PERIOD": timedelta(0),
    # --- Dynamic Client Registration (RFC 7591 / 7592) ---
    "REGISTRATION_ENABLED": False,
    # When set, POST /register needs `Authorization: Bearer <this>`; empty = open registration.
    "REGISTRATION_INITIAL_ACCESS_TOKEN": "",
    # --- What clients may be configured with ---
    "SCOPES_SUPPORTED": ["openid", "profile", "email", "address", "phone", "offline_access"],
    # Algorithms we keep signing keys for; a client's ID-token alg is one of these.
    "SIGNING_ALGS": ["RS256", "ES256", "EdDSA"],
    # --- Signing-key rotation (see idp/services/keys.py) ---
    # How long a key signs before the next one takes over.
    "KEY_ROTATION_INTERVAL": timedelta(days=30),
    # How long the next key is in the JWKS before it signs anything, so RPs that cached the
    # JWKS already know it. The JWKS max-age never exceeds this.
    "KEY_PREPUBLISH_PERIOD": timedelta(days=2),
    # The longest lifetime of anything we sign (access and ID tokens are capped at this);
    # a retired key stays published this long, plus the margin, after it stops signing.
    "SIGNED_TOKEN_MAX_TTL": timedelta(hours=24),
    "KEY_RETIREMENT_MARGIN": timedelta(hours=1),
    "RSA_KEY_SIZE": 2048,
    # Cache-Control max-age of the JWKS and discovery documents.
    "JWKS_MAX_AGE": timedelta(hours=1),
    # --- Performance ---
    # How long a process trusts its in-memory copies of the signing keys and the client
    # registry before it asks Redis whether another process changed them (idp/memo.py).
    # A change is seen everywhere within this long; 0 = ask on every request.
    "LOCAL_CACHE_TTL": timedelta(seconds=1),
    # Issuing codes and tokens commits without waiting for PostgreSQL's WAL flush; see
    # idp/durability.py for what a database crash can then forget. Revocations always wait.
    "ASYNC_TOKEN_COMMIT": True,
}


def coerce(name: str, raw: str) -> Any:
    """Turn an environment variable's text into the type of the setting's default."""
    default = DEFAULTS[name]
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, timedelta):
        return timedelta(seconds=int(raw))
    if isinstance(default, list):
        return [item.strip() for item in raw.replace(",", " ").split() if item.strip()]
    return raw


class IdpSettings:
    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown Portcullis setting IDP_{name}")
        if name not in self._cache:
            value = getattr(settings, f"IDP_{name}", DEFAULTS[name])
            if isinstance(DEFAULTS[name], timedelta) and isinstance(value, int | float):
                value = timedelta(seconds=value)
            self._cache[name] = value
        return self._cache[name]

    def reload(self) -> None:
        self._cache.clear()


idp_settings = IdpSettings()


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith("IDP_"):
        idp_settings.reload()


setting_changed.connect(_reload)
