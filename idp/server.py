"""The one Authlib AuthorizationServer of this process, with its grants and endpoints."""

from authlib.integrations.django_oauth2 import AuthorizationServer as DjangoAuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Error

from clients.models import Client
from clients.registration import ConfigurationEndpoint, RegistrationEndpoint
from clients.services import client_get_enabled


class AuthorizationServer(DjangoAuthorizationServer):
    def __init__(self) -> None:
        # No token model: tokens are saved by our grants through idp services.
        super().__init__(Client, None)

    def query_client(self, client_id: str) -> Client | None:
        """Unknown and disabled clients are the same to the protocol: invalid_client."""
        return client_get_enabled(client_id)

    def send_signal(self, name, *args, **kwargs) -> None:
        return None


server = AuthorizationServer()
server.register_endpoint(RegistrationEndpoint)
server.register_endpoint(ConfigurationEndpoint)

__all__ = ["OAuth2Error", "server"]
