"""Authlib grant and extension subclasses: protocol hooks that call our services."""

import secrets

from authlib.oauth2.rfc6749 import AccessDeniedError, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode

from idp.services.codes import authorization_code_issue, authorization_code_redeem
from idp.services.tokens import access_token_issue, id_token_issue

TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    """RFC 6749 §4.1, with codes stored hashed and single-use."""

    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_ENDPOINT_AUTH_METHODS

    def generate_authorization_code(self) -> str:
        return secrets.token_urlsafe(32)

    def create_authorization_response(self, redirect_uri: str, grant_user):
        """Issue the code; the response itself (query, fragment or form_post, with `state`
        and `iss`) is built by the authorization view, which knows the response mode."""
        if not grant_user:
            raise AccessDeniedError(redirect_uri=redirect_uri)
        self.request.user = grant_user
        code = self.generate_authorization_code()
        self.save_authorization_code(code, self.request)
        return code

    def save_authorization_code(self, code: str, request) -> None:
        data = request.payload.data
        context = request.portcullis  # set by the authorization view
        authorization_code_issue(
            code=code,
            client=request.client,
            user=request.user,
            redirect_uri=self.redirect_uri,
            redirect_uri_given=bool(data.get("redirect_uri")),
            scope=request.scope or "",
            nonce=data.get("nonce") or "",
            code_challenge=data.get("code_challenge") or "",
            code_challenge_method=data.get("code_challenge_method") or "",
            claims=context.get("claims"),
            auth_time=context["auth_time"],
            acr=context.get("acr", ""),
            amr=context.get("amr", []),
            sid=context.get("sid", ""),
        )

    def query_authorization_code(self, code: str, client):
        return authorization_code_redeem(code=code, client=client)

    def delete_authorization_code(self, authorization_code) -> None:
        """Kept (marked used) so that a replay is recognised; pruned later."""

    def authenticate_user(self, authorization_code):
        user = authorization_code.user
        return user if user.is_active else None

    def generate_token(self, user=None, scope=None, grant_type=None, expires_in=None,
                       include_refresh_token=True):  # fmt: skip
        return access_token_issue(
            client=self.request.client,
            user=user,
            scope=scope,
            grant_type=grant_type or self.GRANT_TYPE,
            code=self.request.authorization_code,
        )

    def save_token(self, token) -> None:
        """access_token_issue() already recorded it."""


class PKCE(CodeChallenge):
    """RFC 7636 with S256 only (RFC 9700 §2.1.1: plain is refused), required for public
    clients and for every client that is set to require it."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        from authlib.oauth2.rfc6749 import InvalidRequestError

        super().validate_code_challenge(grant, redirect_uri)
        data = grant.request.payload.data
        if data.get("code_challenge") and not data.get("code_challenge_method"):
            # Absent means "plain" (RFC 7636 §4.3), which we do not accept.
            raise InvalidRequestError(
                "Send code_challenge_method=S256: plain PKCE is not supported.",
                redirect_uri=redirect_uri,
            )
        if grant.request.client.require_pkce and not data.get("code_challenge"):
            raise InvalidRequestError(
                "This client must use PKCE: send code_challenge with code_challenge_method=S256.",
                redirect_uri=redirect_uri,
            )

    def get_authorization_code_challenge(self, authorization_code):
        return authorization_code.code_challenge or None

    def get_authorization_code_challenge_method(self, authorization_code):
        return authorization_code.code_challenge_method or None


class OpenIDConnect(OpenIDCode):
    """OIDC Core §3.1: adds the ID token to the token response when scope has openid."""

    def exists_nonce(self, nonce: str, request) -> bool:
        # Nonce replay is the RP's check (OIDC Core §3.1.3.7 step 11): the same nonce in two
        # requests is not an error here.
        return False

    def encode_id_token(self, token, request) -> str:
        return id_token_issue(
            client=request.client,
            user=request.user,
            code=request.authorization_code,
            access_token=token.get("access_token"),
        )

    def generate_user_info(self, user, scope):  # pragma: no cover - encode_id_token does it
        raise NotImplementedError
