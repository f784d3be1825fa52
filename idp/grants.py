"""Authlib grant and extension subclasses: protocol hooks that call our services."""

import secrets

from authlib.oauth2.rfc6749 import AccessDeniedError, InvalidRequestError, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode

from idp.services.codes import authorization_code_issue, authorization_code_redeem
from idp.services.refresh import (
    refresh_token_claim,
    refresh_token_find,
    refresh_token_issue,
    refresh_token_wanted,
)
from idp.services.tokens import (
    access_token_issue,
    auth_context,
    id_token_issue,
    resources_resolve,
)


def requested_resources(request) -> list[str]:
    """RFC 8707 `resource` parameters of a token request (there may be several)."""
    form = request.form
    values = form.getlist("resource") if hasattr(form, "getlist") else []
    return [v for v in values if v]


TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    """RFC 6749 §4.1, with codes stored hashed and single-use."""

    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_ENDPOINT_AUTH_METHODS

    def generate_authorization_code(self) -> str:
        return secrets.token_urlsafe(32)

    @staticmethod
    def validate_authorization_redirect_uri(request, client) -> str:
        """As Authlib's, without echoing the (hostile) URI into the error description.
        Both errors are shown on our error page, never redirected (RFC 6749 §4.1.2.1)."""
        uri = request.payload.redirect_uri
        if uri:
            if not client.check_redirect_uri(uri):
                raise InvalidRequestError("The redirect_uri is not registered for this client.")
            return uri
        default = client.get_default_redirect_uri()
        if not default:
            raise InvalidRequestError("Missing 'redirect_uri' in request.")
        return default

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
            resources=context.get("resources", []),
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
        client, code = self.request.client, self.request.authorization_code
        context = auth_context(code)
        resources = resources_resolve(
            client=client, requested=requested_resources(self.request), granted=code.resources
        )
        family, refresh = "", None
        if include_refresh_token and refresh_token_wanted(client=client, scope=scope or ""):
            refresh, family = refresh_token_issue(
                client=client, user=user, scope=scope or "", context=context,
                resources=code.resources,
            )  # fmt: skip
        token = access_token_issue(
            client=client, user=user, scope=scope, context=context, code=code, family=family,
            resources=resources,
        )  # fmt: skip
        if refresh:
            token["refresh_token"] = refresh
        return token

    def save_token(self, token) -> None:
        """access_token_issue() already recorded it."""


class RefreshTokenGrant(grants.RefreshTokenGrant):
    """RFC 6749 §6 with rotation: every use returns a new refresh token of the same family
    and retires the old one; the scope may narrow, never widen (Authlib checks that)."""

    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_ENDPOINT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str):
        return refresh_token_find(token=refresh_token, client=self.request.client)

    def authenticate_user(self, refresh_token):
        return refresh_token.user

    def issue_token(self, user, refresh_token):
        client = self.request.client
        resources = resources_resolve(
            client=client,
            requested=requested_resources(self.request),
            granted=refresh_token.resources,
        )
        refresh_token_claim(record=refresh_token)
        scope = self.request.payload.scope or refresh_token.scope
        context = {"auth_time": refresh_token.auth_time, "acr": refresh_token.acr,
                   "amr": refresh_token.amr, "sid": refresh_token.sid,
                   "claims": refresh_token.claims}  # fmt: skip
        # RFC 6749 §6: the new refresh token keeps the scope of the one it replaces.
        new_refresh, family = refresh_token_issue(
            client=client, user=user, scope=refresh_token.scope, context=context,
            family=refresh_token.family, family_expires_at=refresh_token.family_expires_at,
            resources=refresh_token.resources,
        )  # fmt: skip
        token = access_token_issue(
            client=client, user=user, scope=scope, context=context, family=family,
            resources=resources, grant_type="refresh_token",
        )  # fmt: skip
        token["refresh_token"] = new_refresh
        if "openid" in scope.split():
            # OIDC Core §12.2: a fresh ID token for the same user and authentication.
            token["id_token"] = id_token_issue(
                client=client, user=user, context=context, access_token=token["access_token"]
            )
        return token

    def save_token(self, token) -> None:
        """Recorded when issued."""

    def revoke_old_credential(self, refresh_token) -> None:
        """refresh_token_claim() retires it, with what replaces it (idp.durability)."""


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """RFC 6749 §4.4 for service-to-service clients: no user, no ID token, no refresh token.
    Without a `scope` parameter the client gets every scope it is allowed."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def generate_token(self, user=None, scope=None, grant_type=None, expires_in=None,
                       include_refresh_token=False):  # fmt: skip
        client = self.request.client
        granted = (
            client.get_allowed_scope(scope)
            if scope
            else " ".join(s for s in client.scopes if s not in {"openid", "offline_access"})
        )
        resources = resources_resolve(client=client, requested=requested_resources(self.request))
        return access_token_issue(client=client, user=None, scope=granted, resources=resources,
                                  grant_type="client_credentials")  # fmt: skip

    def save_token(self, token) -> None:
        """Recorded when issued."""


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
        code = request.authorization_code
        return id_token_issue(
            client=request.client,
            user=request.user,
            context=auth_context(code),
            nonce=code.nonce,
            access_token=token.get("access_token"),
        )

    def generate_user_info(self, user, scope):  # pragma: no cover - encode_id_token does it
        raise NotImplementedError
