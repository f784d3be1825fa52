"""The access-token verifier (RFC 9068 §4, RFC 8725)."""

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

DEFAULT_ALGORITHMS = ("RS256", "ES256", "EdDSA")
ACCESS_TOKEN_TYPES = {"at+jwt", "application/at+jwt"}


class InvalidToken(Exception):
    """The token must not be accepted; the message says why (safe to log, not to echo)."""


class Verifier:
    def __init__(
        self,
        *,
        issuer: str,
        audience: str | Iterable[str],
        algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
        jwks_uri: str | None = None,
        leeway: int = 30,
        jwks_max_age: int = 3600,
        refetch_interval: int = 30,
        session: requests.Session | None = None,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.audiences = {audience} if isinstance(audience, str) else set(audience)
        self.algorithms = list(algorithms)
        self.leeway = leeway
        self.jwks_max_age = jwks_max_age
        self.refetch_interval = refetch_interval
        self.timeout = timeout
        self.session = session or requests.Session()
        self._jwks_uri = jwks_uri
        self._keys: KeySet | None = None
        self._kids: set[str] = set()
        self._clock = clock
        self._fetched_at = float("-inf")  # last fetch of the JWKS, for any reason
        self._forced_at = float("-inf")  # last fetch caused by an unknown kid
        self._lock = threading.Lock()

    # --- keys ---

    @property
    def jwks_uri(self) -> str:
        if self._jwks_uri is None:
            metadata = self._get(f"{self.issuer}/.well-known/openid-configuration")
            if metadata.get("issuer") != self.issuer or "jwks_uri" not in metadata:
                raise InvalidToken("The issuer's discovery document does not match it.")
            self._jwks_uri = metadata["jwks_uri"]
        return self._jwks_uri

    def _get(self, url: str) -> dict:
        try:
            response = self.session.get(url, timeout=self.timeout)
            response.raise_for_status()
            return response.json()
        except (requests.RequestException, ValueError) as exc:
            raise InvalidToken(f"Could not fetch {url}: {exc}") from exc

    def _refresh_keys(self, *, unknown_kid: bool) -> None:
        with self._lock:
            now = self._clock()
            if unknown_kid:
                # Rate limit: tokens with made-up kids must not let anyone hammer the issuer.
                # One such refetch per interval; the first one after a rotation goes through.
                if now - self._forced_at < self.refetch_interval:
                    return
                self._forced_at = now
            elif now - self._fetched_at < self.jwks_max_age:
                return
            document = self._get(self.jwks_uri)
            keys = [k for k in document.get("keys", []) if k.get("use", "sig") == "sig"]
            self._keys = KeySet.import_key_set({"keys": keys})
            self._kids = {k.get("kid") for k in keys}
            self._fetched_at = now

    def _key_set_for(self, kid: str) -> KeySet:
        self._refresh_keys(unknown_kid=False)
        if kid not in self._kids:
            self._refresh_keys(unknown_kid=True)  # the issuer may have rotated its keys
        if kid not in self._kids or self._keys is None:
            raise InvalidToken("The token was signed by an unknown key.")
        return self._keys

    # --- tokens ---

    def verify(self, token: str, *, required_scopes: Iterable[str] = ()) -> dict[str, Any]:
        """Return the claims of a valid access token, or raise InvalidToken."""
        if not isinstance(token, str) or token.count(".") != 2 or len(token) > 16_384:
            raise InvalidToken("Not a JWT.")
        # The unverified header only picks the key; the signature decides.
        try:
            header = extract_compact(token.encode()).headers()
        except (JoseError, ValueError) as exc:
            raise InvalidToken("Malformed token.") from exc
        if header.get("alg") not in self.algorithms:
            raise InvalidToken("Algorithm not allowed.")
        if str(header.get("typ", "")).lower() not in ACCESS_TOKEN_TYPES:
            raise InvalidToken("Not an access token (typ must be at+jwt).")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise InvalidToken("The token names no key.")
        try:
            decoded = jwt.decode(token, self._key_set_for(kid), algorithms=[header["alg"]])
        except JoseError as exc:
            raise InvalidToken(f"Bad signature: {exc.error}") from exc
        claims = decoded.claims
        self._check_claims(claims)
        missing = set(required_scopes) - set(str(claims.get("scope", "")).split())
        if missing:
            raise InvalidToken(f"Missing scope: {' '.join(sorted(missing))}.")
        return claims

    def _check_claims(self, claims: dict[str, Any]) -> None:
        now = time.time()
        for name in ("iss", "sub", "aud", "exp", "iat", "client_id"):
            if name not in claims:
                raise InvalidToken(f"Missing claim: {name}.")
        if claims["iss"] != self.issuer:
            raise InvalidToken("Wrong issuer.")
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if not self.audiences & set(audiences):
            raise InvalidToken("Not meant for this audience.")
        if not isinstance(claims["exp"], int | float) or now > claims["exp"] + self.leeway:
            raise InvalidToken("Expired.")
        if "nbf" in claims and now < claims["nbf"] - self.leeway:
            raise InvalidToken("Not valid yet.")
        if not isinstance(claims["iat"], int | float) or claims["iat"] > now + self.leeway:
            raise InvalidToken("Issued in the future.")


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1), or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None
