"""The one Authlib AuthorizationServer of this process, with its grants and endpoints."""

from collections import defaultdict
from typing import Any

from authlib.integrations.django_oauth2 import AuthorizationServer as DjangoAuthorizationServer
from authlib.integrations.django_oauth2.requests import DjangoOAuth2Payload
from authlib.oauth2.rfc6749 import (
    InvalidScopeError,
    OAuth2Error,
    OAuth2Payload,
    OAuth2Request,
    scope_to_list,
)
from django.http import HttpRequest

from clients.models import Client
from clients.registration import ConfigurationEndpoint, RegistrationEndpoint
from clients.services import client_get_enabled
from idp.conf import idp_settings
from idp.endpoints import IntrospectionEndpoint, RevocationEndpoint
from idp.grants import (
    PKCE,
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    OpenIDConnect,
    RefreshTokenGrant,
)


class ParamsPayload(OAuth2Payload):
    """Authorization request parameters kept server-side while the user signs in."""

    def __init__(self, params: dict[str, str]) -> None:
        self._params = params

    @property
    def data(self) -> dict[str, str]:
        return self._params

    @property
    def datalist(self) -> dict[str, list[str]]:
        return defaultdict(list, {k: [v] for k, v in self._params.items()})


class AuthorizationRequest(OAuth2Request):
    """An authorization request rebuilt from its stored parameters."""

    def __init__(self, params: dict[str, str]) -> None:
        super().__init__("GET", f"{idp_settings.ISSUER}/authorize", headers={})
        self.payload = ParamsPayload(params)
        self.portcullis: dict[str, Any] = {}

    @property
    def args(self) -> dict[str, str]:
        return self.payload.data

    @property
    def form(self) -> dict[str, str]:
        return {}


class IssuerRequest(OAuth2Request):
    """A Django request as Authlib sees it, addressed by our issuer URL (IDP_ISSUER is the
    source of truth for every URL, never the Host header or a proxy's scheme)."""

    def __init__(self, request: HttpRequest) -> None:
        super().__init__(
            method=request.method,
            uri=f"{idp_settings.ISSUER}{request.get_full_path()}",
            headers=request.headers,
        )
        self.payload = DjangoOAuth2Payload(request)
        self._request = request

    @property
    def args(self):
        return self._request.GET

    @property
    def form(self):
        return self._request.POST


class AuthorizationServer(DjangoAuthorizationServer):
    def __init__(self) -> None:
        # No token model: our grants record tokens through idp.services.tokens.
        super().__init__(Client, None)

    def query_client(self, client_id: str) -> Client | None:
        """Unknown and disabled clients are the same to the protocol: invalid_client."""
        return client_get_enabled(client_id)

    def create_oauth2_request(self, request: HttpRequest | OAuth2Request) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        return IssuerRequest(request)

    def validate_requested_scope(self, scope: str | None) -> None:
        """A scope this server does not know at all is invalid_scope (RFC 6749 §4.1.2.1);
        a known scope the client may not use is left out of the grant (§3.3)."""
        if scope and not set(scope_to_list(scope)) <= set(idp_settings.SCOPES_SUPPORTED):
            raise InvalidScopeError()

    def send_signal(self, name, *args, **kwargs) -> None:
        return None


def build_server() -> AuthorizationServer:
    server = AuthorizationServer()
    server.register_grant(AuthorizationCodeGrant, [PKCE(required=True), OpenIDConnect()])
    server.register_grant(RefreshTokenGrant)
    server.register_grant(ClientCredentialsGrant)
    server.register_endpoint(RevocationEndpoint)
    server.register_endpoint(IntrospectionEndpoint)
    server.register_endpoint(RegistrationEndpoint)
    server.register_endpoint(ConfigurationEndpoint)
    return server


server = build_server()

__all__ = ["AuthorizationRequest", "OAuth2Error", "server"]
