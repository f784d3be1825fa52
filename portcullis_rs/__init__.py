"""portcullis_rs: verify Portcullis access tokens in a resource server, statelessly.

    from portcullis_rs import Verifier, InvalidToken

    verifier = Verifier(issuer="https://id.example.com", audience="https://id.example.com")
    claims = verifier.verify(bearer_token)        # raises InvalidToken

The verifier fetches the issuer's JWKS once and caches it; a token signed by a key it has not
seen triggers one refetch (rate-limited), so key rotation needs no restart and no call to
Portcullis per request. It checks the signature with an algorithm allow-list (never the
token's own choice among others), `typ: at+jwt` (RFC 9068), `iss`, `aud`, `exp`, `nbf` and
`iat` with a small leeway. Dependencies: joserfc and requests.
"""

from portcullis_rs.verifier import InvalidToken, Verifier, bearer_token

__all__ = ["InvalidToken", "Verifier", "bearer_token"]
