"""Dynamic Client Registration: RFC 7591 (register), RFC 7592 (read, update, delete), with the
OpenID Connect Dynamic Client Registration 1.0 metadata.

Built on Authlib's ClientRegistrationEndpoint / ClientConfigurationEndpoint; the metadata is
checked by the same model rules as the admin and the CLI (Client.clean), so a registration can
never create a client an operator could not.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from authlib.oauth2.rfc6749 import AccessDeniedError
from authlib.oauth2.rfc6750 import InvalidTokenError
from authlib.oauth2.rfc7591 import ClientRegistrationEndpoint, InvalidClientMetadataError
from authlib.oauth2.rfc7591.errors import InvalidRedirectURIError
from authlib.oauth2.rfc7592 import ClientConfigurationEndpoint
from django.core.exceptions import ValidationError
from django.db import transaction

from clients import services
from clients.metadata import client_metadata
from clients.models import Client
from idp.conf import idp_settings
from idp.errors import description

# Metadata name -> model field. Anything not listed here or in IGNORED is refused.
FIELDS = {
    "client_name": "name",
    "redirect_uris": "redirect_uris",
    "post_logout_redirect_uris": "post_logout_redirect_uris",
    "token_endpoint_auth_method": "token_endpoint_auth_method",
    "grant_types": "grant_types",
    "response_types": "response_types",
    "application_type": "application_type",
    "contacts": "contacts",
    "logo_uri": "logo_uri",
    "client_uri": "client_uri",
    "policy_uri": "policy_uri",
    "tos_uri": "tos_uri",
    "id_token_signed_response_alg": "id_token_signed_response_alg",
    "backchannel_logout_uri": "backchannel_logout_uri",
    "backchannel_logout_session_required": "backchannel_logout_session_required",
    "frontchannel_logout_uri": "frontchannel_logout_uri",
    "frontchannel_logout_session_required": "frontchannel_logout_session_required",
}
# Informational metadata that changes nothing about how we treat the client.
IGNORED = frozenset(
    {
        "software_id",
        "software_version",
        "client_id",
        "client_secret",
        "require_auth_time",
        "subject_type",
    }
)
STRINGS = {
    "client_name",
    "token_endpoint_auth_method",
    "application_type",
    "logo_uri",
    "client_uri",
    "policy_uri",
    "tos_uri",
    "id_token_signed_response_alg",
    "backchannel_logout_uri",
    "frontchannel_logout_uri",
    "scope",
    "subject_type",
}
LISTS = {"redirect_uris", "post_logout_redirect_uris", "grant_types", "response_types", "contacts"}
BOOLEANS = {
    "backchannel_logout_session_required",
    "frontchannel_logout_session_required",
    "require_auth_time",
}


NO_STORE_JSON = [
    ("Content-Type", "application/json"),
    ("Cache-Control", "no-store"),
    ("Pragma", "no-cache"),
]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def metadata_to_attributes(data: dict[str, Any]) -> dict[str, Any]:
    """Map registration metadata onto client attributes, refusing what we cannot honour."""
    unknown = sorted(set(data) - set(FIELDS) - IGNORED - {"scope"})
    if unknown:
        raise InvalidClientMetadataError(
            description(f"Unsupported client metadata: {', '.join(unknown)}.")
        )
    for name, value in data.items():
        if name in STRINGS and not isinstance(value, str):
            raise InvalidClientMetadataError(f"{name} must be a string.")
        if name in LISTS and not (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            raise InvalidClientMetadataError(f"{name} must be an array of strings.")
        if name in BOOLEANS and not isinstance(value, bool):
            raise InvalidClientMetadataError(f"{name} must be true or false.")
    if data.get("subject_type", "public") != "public":
        raise InvalidClientMetadataError("subject_type must be public.")

    attributes = {FIELDS[k]: v for k, v in data.items() if k in FIELDS}
    if "redirect_uris" not in data:
        raise InvalidRedirectURIError("redirect_uris is required.")
    # RFC 7591 §2 defaults.
    attributes.setdefault("token_endpoint_auth_method", "client_secret_basic")
    attributes.setdefault("grant_types", ["authorization_code"])
    attributes.setdefault("response_types", ["code"])
    if attributes["token_endpoint_auth_method"] == "none":
        attributes["client_type"] = Client.Type.PUBLIC
    if "scope" in data:
        attributes["scopes"] = data["scope"].split()
    if not attributes.get("name"):
        attributes["name"] = "Dynamically registered client"
    return attributes


def validation_error_to_oauth(error: ValidationError) -> Exception:
    messages = error.message_dict if hasattr(error, "error_dict") else {"": error.messages}
    reverse = {v: k for k, v in FIELDS.items()} | {"scopes": "scope", "name": "client_name"}
    text = "; ".join(
        f"{reverse.get(field, field)}: {' '.join(msgs)}" if field else " ".join(msgs)
        for field, msgs in messages.items()
    )
    text = description(text, limit=1000)
    if set(messages) & {"redirect_uris", "post_logout_redirect_uris"}:
        return InvalidRedirectURIError(text)
    return InvalidClientMetadataError(text)


@dataclass
class InitialAccess:
    """Who may register: holder of the initial access token, or anyone if none is set."""

    open: bool


@dataclass
class RegistrationAccess:
    """A registration access token (RFC 7592 §1) bound to one client."""

    client: Client

    def check_client(self, client: Client) -> bool:
        return client.pk == self.client.pk


def _bearer(request) -> str | None:
    auth = request.headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _path_client_id(request) -> str:
    """The client_id is the last path segment of /register/<client_id>."""
    return unquote(urlsplit(request.uri).path.rstrip("/").rsplit("/", 1)[-1])


def _new_registration_access_token(client: Client) -> str:
    token = secrets.token_urlsafe(32)
    Client.objects.filter(pk=client.pk).update(registration_access_token_hash=token_hash(token))
    return token


def _registration_info(client: Client, token: str) -> dict[str, str]:
    return {
        "registration_client_uri": f"{idp_settings.ISSUER}/register/{client.client_id}",
        "registration_access_token": token,
    }


class RegistrationEndpoint(ClientRegistrationEndpoint):
    """POST /register (RFC 7591 §3)."""

    def authenticate_token(self, request):
        expected = idp_settings.REGISTRATION_INITIAL_ACCESS_TOKEN
        if not expected:
            return InitialAccess(open=True)
        presented = _bearer(request)
        if presented and hmac.compare_digest(presented.encode(), expected.encode()):
            return InitialAccess(open=False)
        # RFC 7591 §3 defers to RFC 6750 §3.1: 401 with WWW-Authenticate.
        raise InvalidTokenError(description="A valid initial access token is required.")

    def extract_client_metadata(self, request):
        return metadata_to_attributes(request.payload.data)

    def create_registration_response(self, request):
        """RFC 7591 §3.2.1: the response echoes the registered metadata, with defaults
        filled in, the secret (once) and the RFC 7592 registration access token."""
        if not self.authenticate_token(request):
            raise AccessDeniedError()
        client = Client(is_dynamically_registered=True)
        for name, value in self.extract_client_metadata(request).items():
            setattr(client, name, value)
        try:
            with transaction.atomic():
                secret = services.client_register(client=client)
                token = _new_registration_access_token(client)
        except ValidationError as exc:
            raise validation_error_to_oauth(exc) from exc
        body = client_metadata(client)
        if secret:
            body["client_secret"] = secret
        body.update(_registration_info(client, token))
        return 201, body, NO_STORE_JSON

    def get_server_metadata(self):
        return {}


class ConfigurationEndpoint(ClientConfigurationEndpoint):
    """GET / PUT / DELETE /register/<client_id> (RFC 7592 §2)."""

    def authenticate_token(self, request):
        presented = _bearer(request)
        client = (
            Client.objects.filter(registration_access_token_hash=token_hash(presented)).first()
            if presented
            else None
        )
        # A token is valid only at its own client's URL (RFC 7592 §3).
        if client is None or client.client_id != _path_client_id(request):
            raise InvalidTokenError(description="A valid registration access token is required.")
        return RegistrationAccess(client)

    def authenticate_client(self, request):
        return Client.objects.filter(client_id=_path_client_id(request)).first()

    def revoke_access_token(self, *args):
        # Our tokens are bound to their client row, so an unknown client has none left.
        return None

    def check_permission(self, client, request):
        return client.is_dynamically_registered

    def introspect_client(self, client):
        return client_metadata(client)

    def generate_client_registration_info(self, client, request):
        return {
            "registration_client_uri": f"{idp_settings.ISSUER}/register/{client.client_id}",
            "registration_access_token": _bearer(request),
        }

    def extract_client_metadata(self, request):
        data = dict(request.payload.data)
        return metadata_to_attributes(data)

    def update_client(self, client, client_metadata, request):
        """RFC 7592 §2.2: the request replaces the registration; what it omits is reset to
        its default. The client type (secret or PKCE-only) cannot change."""
        if (client_metadata.get("token_endpoint_auth_method") == "none") != client.is_public:
            raise InvalidClientMetadataError(
                "token_endpoint_auth_method cannot switch between none and a secret method; "
                "register a new client instead."
            )
        client_metadata.pop("client_type", None)
        registrable = {*FIELDS.values(), "scopes"}
        defaults = {f: Client._meta.get_field(f).get_default() for f in registrable}
        try:
            return services.client_update(client=client, **{**defaults, **client_metadata})
        except ValidationError as exc:
            raise validation_error_to_oauth(exc) from exc

    def delete_client(self, client, request):
        services.client_delete(client=client)

    def get_server_metadata(self):
        return {}
