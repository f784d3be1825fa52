"""Client secrets: generated with 256 bits of entropy, stored only as a keyed hash.

A random 256-bit secret cannot be guessed or brute-forced from its hash, so it needs no slow
password hasher: an HMAC-SHA-256 under a server-side key keeps the token endpoint fast while
a stolen database alone is not enough to check candidate secrets.
"""

import hmac
import secrets
import string

from django.conf import settings
from django.utils.crypto import salted_hmac

from idp.conf import idp_settings

HASH_PREFIX = "hmac-sha256$"


CLIENT_ID_ALPHABET = string.ascii_letters + string.digits


def client_id_generate() -> str:
    """An unguessable client_id: 32 letters and digits (190 bits), URL-safe, and never
    starting with "-", so it is safe as a command-line argument too."""
    return "".join(secrets.choice(CLIENT_ID_ALPHABET) for _ in range(32))


def client_secret_generate() -> str:
    """A URL-safe client secret with 256 bits of entropy."""
    return secrets.token_urlsafe(32)


def client_secret_hash(secret: str) -> str:
    key = idp_settings.CLIENT_SECRET_HMAC_KEY or settings.SECRET_KEY
    digest = salted_hmac(
        "portcullis.clients.secret", secret, secret=key, algorithm="sha256"
    ).hexdigest()
    return HASH_PREFIX + digest


def client_secret_verify(secret: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented secret with a stored hash."""
    if not secret or not stored_hash or not isinstance(secret, str):
        return False
    return hmac.compare_digest(client_secret_hash(secret), stored_hash)
