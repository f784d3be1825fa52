"""Encryption at rest for private signing keys: MultiFernet under IDP_KEY_ENCRYPTION_KEYS.

IDP_KEY_ENCRYPTION_KEYS is a comma-separated list of Fernet keys: the first encrypts, all of
them decrypt, so the key-encryption key itself can be rotated (add a new key in front, run
`manage.py keys reencrypt`, then drop the old one). When it is unset, a key is derived from
SECRET_KEY (HKDF-SHA256) with a warning: fine for a local run, not for production.
"""

import base64
import logging
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

logger = logging.getLogger("portcullis.keys")

__all__ = ["InvalidToken", "decrypt", "encrypt", "key_encryption_configured", "reencrypt"]


def key_encryption_configured() -> bool:
    return bool(getattr(settings, "IDP_KEY_ENCRYPTION_KEYS", None))


@cache
def _fernet() -> MultiFernet:
    keys = getattr(settings, "IDP_KEY_ENCRYPTION_KEYS", None) or []
    if isinstance(keys, str):
        keys = [k.strip() for k in keys.split(",") if k.strip()]
    if not keys:
        logger.warning(
            "key_encryption_key_derived: IDP_KEY_ENCRYPTION_KEYS is unset, so private signing "
            "keys are encrypted under a key derived from SECRET_KEY. Set it in production."
        )
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"portcullis key encryption"
        ).derive(settings.SECRET_KEY.encode())
        keys = [base64.urlsafe_b64encode(derived).decode()]
    try:
        return MultiFernet([Fernet(k) for k in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "IDP_KEY_ENCRYPTION_KEYS must be comma-separated Fernet keys (generate one with "
            "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key()"
            ".decode())')."
        ) from exc


def encrypt(plaintext: bytes) -> str:
    return _fernet().encrypt(plaintext).decode("ascii")


def decrypt(token: str) -> bytes:
    """Raises InvalidToken when no configured key can decrypt it."""
    return _fernet().decrypt(token.encode("ascii"))


def reencrypt(token: str) -> str:
    """Re-encrypt under the first (current) key-encryption key."""
    return _fernet().rotate(token.encode("ascii")).decode("ascii")


def _reset(*, setting: str, **kwargs) -> None:
    if setting in {"IDP_KEY_ENCRYPTION_KEYS", "SECRET_KEY"}:
        _fernet.cache_clear()


setting_changed.connect(_reset)
