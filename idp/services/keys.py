"""Signing keys: generation, encrypted storage, rotation, revocation, the JWKS, and signing
and verifying our own JWTs with them.

Rotation (per algorithm, driven by IDP_KEY_* settings and run hourly by Celery beat):

    created as `next`, published ──▶ promoted to `active` ──▶ `retired` ──▶ deleted
    (PREPUBLISH before it is due)    (signs for INTERVAL)      (published until
                                                                every token it signed
                                                                has expired)

A `next` key is published at least KEY_PREPUBLISH_PERIOD before it signs, and the JWKS
max-age never exceeds that period, so an RP holding a cached JWKS always knows the key that
signed a fresh token. Rotation is idempotent and serialised by a lock row, and the database
refuses a second active key per algorithm, however many workers run it at once.

Hot path: the key ring (who is active, the published JWKS, the verification key set) is held
per process and revalidated with one cache read of a version that every change bumps; a
private key is decrypted and parsed once per process (an RSA PEM load costs ~50 ms).
"""

import hashlib
import json
import logging
import threading
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from django.db import IntegrityError, transaction
from django.utils import timezone
from joserfc import jwt
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey

from idp.conf import idp_settings
from idp.encryption import decrypt, encrypt
from idp.memo import SharedVersion
from idp.models import KeyRotationLock, SigningKey

logger = logging.getLogger("portcullis.keys")

VERSION_CACHE_KEY = "idp:signing-keys:version"
PUBLISHED_STATES = (SigningKey.State.NEXT, SigningKey.State.ACTIVE, SigningKey.State.RETIRED)
KEY_CLASSES = {"RS256": RSAKey, "ES256": ECKey, "EdDSA": OKPKey}

# RFC 9864 deprecates the "EdDSA" identifier in favour of "Ed25519"; the RP libraries we
# serve still expect "EdDSA", so we keep signing with it and silence joserfc's notice.
warnings.filterwarnings("ignore", message="EdDSA is deprecated", category=SecurityWarning)


class SigningKeyNotFound(Exception):
    """No such key, or no active key for an algorithm."""


class TokenInvalid(Exception):
    """A JWT that is malformed, unsigned by a published key of ours, or badly signed."""


# --- the per-process key ring ---


@dataclass(frozen=True)
class KeyRing:
    version: str
    active: dict[str, str]  # alg -> kid
    jwks: dict[str, Any]
    jwks_body: bytes
    etag: str
    key_set: KeySet
    alg_by_kid: dict[str, str] = field(default_factory=dict)


_lock = threading.Lock()
_ring: KeyRing | None = None
_private_keys: dict[str, Any] = {}


_version = SharedVersion(VERSION_CACHE_KEY)


def _bump_version() -> None:
    """This process reloads the ring at its next use; every other process once the change
    is committed (a new version in the shared cache, seen within IDP_LOCAL_CACHE_TTL)."""
    global _ring
    _ring = None
    _version.bump()


def _load_ring(version: str) -> KeyRing:
    rows = list(
        SigningKey.objects.filter(state__in=PUBLISHED_STATES).only(
            "kid", "alg", "state", "public_jwk"
        )
    )
    active = {row.alg: row.kid for row in rows if row.state == SigningKey.State.ACTIVE}
    jwks = {"keys": [row.public_jwk for row in rows]}
    body = json.dumps(jwks, separators=(",", ":"), sort_keys=True).encode()
    return KeyRing(
        version=version,
        active=active,
        jwks=jwks,
        jwks_body=body,
        etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
        key_set=KeySet.import_key_set(jwks) if rows else KeySet([]),
        alg_by_kid={row.kid: row.alg for row in rows},
    )


def key_ring() -> KeyRing:
    """The current published keys, from this process's memory when nothing has changed.

    Creates the first keys if there are none yet, so a fresh install signs without a manual
    step.
    """
    global _ring
    version = _version.get()
    ring = _ring
    if ring is not None and ring.version == version:
        return ring
    with _lock:
        ring = _load_ring(version)
        if any(alg not in ring.active for alg in idp_settings.SIGNING_ALGS):
            signing_key_rotate()
            version = _version.get()
            ring = _load_ring(version)
        _ring = ring
    return ring


def key_ring_reset() -> None:
    """Forget this process's ring and parsed keys (tests, and after `keys reencrypt`)."""
    global _ring
    _ring = None
    _private_keys.clear()
    _version.forget()


# --- generation ---


def _generate_private_key(alg: str):
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=idp_settings.RSA_KEY_SIZE)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"Unsupported signing algorithm {alg!r}")


def signing_key_create(*, alg: str, state: str, now: datetime) -> SigningKey:
    """Generate a key pair; store the public JWK and the encrypted private key."""
    private = _generate_private_key(alg)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = KEY_CLASSES[alg].import_key(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    kid = public.thumbprint()  # RFC 7638
    public_jwk = {**public.as_dict(private=False), "kid": kid, "alg": alg, "use": "sig"}
    key = SigningKey.objects.create(
        kid=kid,
        alg=alg,
        state=state,
        public_jwk=public_jwk,
        private_key_encrypted=encrypt(pem),
        created_at=now,
        activated_at=now if state == SigningKey.State.ACTIVE else None,
    )
    logger.info("signing_key_created kid=%s alg=%s state=%s", kid, alg, state)
    return key


# --- rotation ---


def _acquire_rotation_lock(now: datetime) -> None:
    """UPDATE the lock row first thing: PostgreSQL holds a row lock and SQLite its write lock
    until commit, so concurrent rotations run one after another, each seeing the last."""
    if not KeyRotationLock.objects.filter(pk=1).update(locked_at=now):
        try:
            with transaction.atomic():
                KeyRotationLock.objects.create(pk=1, locked_at=now)
        except IntegrityError:
            KeyRotationLock.objects.filter(pk=1).update(locked_at=now)


def _retire(key: SigningKey, now: datetime) -> None:
    key.state = SigningKey.State.RETIRED
    key.retired_at = now
    key.expires_at = now + _retention()
    key.save(update_fields=["state", "retired_at", "expires_at"])
    logger.info(
        "signing_key_retired kid=%s alg=%s expires_at=%s",
        key.kid,
        key.alg,
        key.expires_at.isoformat(),
    )


def _promote(key: SigningKey, now: datetime) -> None:
    key.state = SigningKey.State.ACTIVE
    key.activated_at = now
    key.save(update_fields=["state", "activated_at"])
    logger.info("signing_key_activated kid=%s alg=%s", key.kid, key.alg)


def _retention():
    """A retired key is published until everything it signed has expired, plus a margin."""
    longest = max(
        idp_settings.SIGNED_TOKEN_MAX_TTL, idp_settings.ACCESS_TOKEN_TTL, idp_settings.ID_TOKEN_TTL
    )
    return longest + idp_settings.KEY_RETIREMENT_MARGIN


def signing_key_rotate(
    *, now: datetime | None = None, force: bool = False, algs: list[str] | None = None
) -> list[str]:
    """Do whatever rotation step is due, for each signing algorithm; safe to run any number
    of times, from any number of workers at once. Returns what it did, as log-style events.

    force=True promotes the next key now (creating one if there is none: RPs may then have
    to refetch the JWKS) and publishes a new next key: what `keys rotate` does.
    """
    now = now or timezone.now()
    events: list[str] = []
    with transaction.atomic():
        _acquire_rotation_lock(now)
        for alg in algs or idp_settings.SIGNING_ALGS:
            events += _rotate_alg(alg, now=now, force=force)
        expired = SigningKey.objects.filter(state=SigningKey.State.RETIRED, expires_at__lte=now)
        for kid in expired.values_list("kid", flat=True):
            events.append(f"signing_key_deleted kid={kid}")
            logger.info("signing_key_deleted kid=%s", kid)
        expired.delete()
        if events:
            _bump_version()
            from accounts.audit import audit

            audit("signing_keys_rotated", steps=events, forced=force)
    return events


def _rotate_alg(alg: str, *, now: datetime, force: bool) -> list[str]:
    keys = {
        k.state: k
        for k in SigningKey.objects.filter(
            alg=alg, state__in=[SigningKey.State.ACTIVE, SigningKey.State.NEXT]
        )
    }
    active, upcoming = keys.get(SigningKey.State.ACTIVE), keys.get(SigningKey.State.NEXT)
    interval, prepublish = idp_settings.KEY_ROTATION_INTERVAL, idp_settings.KEY_PREPUBLISH_PERIOD
    events = []

    if active is None:
        # First start, or the active key was revoked: sign with something at once.
        if upcoming is not None:
            _promote(upcoming, now)
            active, upcoming = upcoming, None
        else:
            active = signing_key_create(alg=alg, state=SigningKey.State.ACTIVE, now=now)
        events.append(f"signing_key_activated alg={alg} kid={active.kid}")
    elif force or (
        now >= active.activated_at + interval
        and upcoming is not None
        and now >= upcoming.created_at + prepublish
    ):
        if upcoming is None:
            upcoming = signing_key_create(alg=alg, state=SigningKey.State.NEXT, now=now)
        _retire(active, now)
        _promote(upcoming, now)
        events.append(f"signing_key_rotated alg={alg} retired={active.kid} active={upcoming.kid}")
        active, upcoming = upcoming, None

    if upcoming is None and (force or now >= active.activated_at + interval - prepublish):
        upcoming = signing_key_create(alg=alg, state=SigningKey.State.NEXT, now=now)
        events.append(f"signing_key_published alg={alg} kid={upcoming.kid}")
    return events


def signing_key_revoke(*, kid: str, now: datetime | None = None) -> SigningKey:
    """Emergency: stop publishing the key at once and reject what it signed. If it was
    signing, the next key (or a new one) takes over immediately."""
    now = now or timezone.now()
    with transaction.atomic():
        _acquire_rotation_lock(now)
        try:
            key = SigningKey.objects.get(kid=kid)
        except SigningKey.DoesNotExist:
            raise SigningKeyNotFound(kid) from None
        if key.state == SigningKey.State.REVOKED:
            return key
        was_active = key.state == SigningKey.State.ACTIVE
        key.state = SigningKey.State.REVOKED
        key.revoked_at = now
        key.private_key_encrypted = ""  # never needed again
        key.save(update_fields=["state", "revoked_at", "private_key_encrypted"])
        logger.warning("signing_key_revoked kid=%s alg=%s", key.kid, key.alg)
        from accounts.audit import audit

        audit("signing_key_revoked", kid=key.kid, alg=key.alg)
        if was_active:
            _rotate_alg(key.alg, now=now, force=False)
        _bump_version()
    _private_keys.pop(kid, None)
    return key


def signing_keys_status(*, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every key with its state, dates and what happens to it next."""
    now = now or timezone.now()
    interval, prepublish = idp_settings.KEY_ROTATION_INTERVAL, idp_settings.KEY_PREPUBLISH_PERIOD
    rows = []
    for key in SigningKey.objects.order_by("alg", "created_at"):
        if key.state == SigningKey.State.ACTIVE:
            upcoming = f"retires after {(key.activated_at + interval).isoformat()}"
        elif key.state == SigningKey.State.NEXT:
            upcoming = f"may sign from {(key.created_at + prepublish).isoformat()}"
        elif key.state == SigningKey.State.RETIRED:
            upcoming = f"removed at {key.expires_at.isoformat()}"
        else:
            upcoming = "unpublished; tokens it signed are rejected"
        rows.append(
            {
                "kid": key.kid,
                "alg": key.alg,
                "state": key.state,
                "created_at": key.created_at.isoformat(),
                "activated_at": key.activated_at.isoformat() if key.activated_at else None,
                "retired_at": key.retired_at.isoformat() if key.retired_at else None,
                "expires_at": key.expires_at.isoformat() if key.expires_at else None,
                "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
                "next": upcoming,
            }
        )
    return rows


def signing_keys_reencrypt() -> int:
    """Re-encrypt every private key under the first IDP_KEY_ENCRYPTION_KEYS key."""
    from idp.encryption import reencrypt

    count = 0
    with transaction.atomic():
        for key in SigningKey.objects.select_for_update().exclude(private_key_encrypted=""):
            key.private_key_encrypted = reencrypt(key.private_key_encrypted)
            key.save(update_fields=["private_key_encrypted"])
            count += 1
    logger.info("signing_keys_reencrypted count=%d", count)
    return count


# --- signing and verifying our own JWTs ---


def _private_key(kid: str):
    key = _private_keys.get(kid)
    if key is None:
        row = SigningKey.objects.only("alg", "private_key_encrypted").get(kid=kid)
        key = KEY_CLASSES[row.alg].import_key(decrypt(row.private_key_encrypted))
        _private_keys[kid] = key
    return key


def jwt_sign(claims: dict[str, Any], *, alg: str, typ: str | None = None) -> str:
    """Sign `claims` with the active key for `alg`; the header names its kid."""
    ring = key_ring()
    kid = ring.active.get(alg)
    if kid is None:
        raise SigningKeyNotFound(f"No active {alg} key")
    header = {"alg": alg, "kid": kid}
    if typ:
        header["typ"] = typ
    return jwt.encode(header, claims, _private_key(kid), algorithms=[alg])


def jwt_verify(token: str, *, typ: str | None = None) -> tuple[dict, dict]:
    """Check that `token` was signed by one of our published keys; returns (header, claims).

    Revoked and removed keys are not published, so what they signed fails here. Claims
    (exp, aud, iss …) are the caller's to check: their rules differ per token type.
    """
    if not isinstance(token, str) or not token or len(token) > 16_384:
        raise TokenInvalid("malformed token")
    ring = key_ring()
    try:
        decoded = jwt.decode(token, ring.key_set, algorithms=list(idp_settings.SIGNING_ALGS))
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise TokenInvalid(str(exc) or exc.__class__.__name__) from exc
    header = decoded.header
    # RFC 8725 §3.1: the algorithm is the one we registered for that key, never the header's
    # choice among several.
    if ring.alg_by_kid.get(header.get("kid")) != header.get("alg"):
        raise TokenInvalid("unknown key or algorithm")
    if typ is not None and header.get("typ", "").lower() != typ.lower():
        raise TokenInvalid("wrong token type")
    return header, decoded.claims
