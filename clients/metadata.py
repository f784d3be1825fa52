"""A client as RFC 7591 / OpenID Connect Dynamic Client Registration metadata, and the
copy-paste settings an RP developer needs."""

from typing import Any

from clients.models import Client
from idp.conf import idp_settings


def client_metadata(client: Client) -> dict[str, Any]:
    """The client's registered metadata, under the standard field names."""
    data: dict[str, Any] = {
        "client_id": client.client_id,
        "client_id_issued_at": int(client.created_at.timestamp()) if client.created_at else None,
        "client_name": client.name,
        "client_type": client.client_type,
        "application_type": client.application_type,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "grant_types": list(client.grant_types),
        "response_types": list(client.response_types),
        "scope": " ".join(client.scopes),
        "redirect_uris": list(client.redirect_uris),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "access_token_format": client.access_token_format,
        "access_token_lifetime": int(client.access_token_ttl.total_seconds()),
        "id_token_lifetime": int(client.id_token_ttl.total_seconds()),
        "refresh_token_lifetime": int(client.refresh_token_ttl.total_seconds()),
        "require_pkce": client.require_pkce,
        "skip_consent": client.skip_consent,
        "resource_server": client.is_resource_server,
        "resources": list(client.resources),
        "enabled": client.is_enabled,
    }
    optional = {
        "logo_uri": client.logo_uri,
        "client_uri": client.client_uri,
        "policy_uri": client.policy_uri,
        "tos_uri": client.tos_uri,
        "contacts": list(client.contacts),
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "frontchannel_logout_uri": client.frontchannel_logout_uri,
    }
    data.update({k: v for k, v in optional.items() if v})
    if client.backchannel_logout_uri:
        data["backchannel_logout_session_required"] = client.backchannel_logout_session_required
    if client.frontchannel_logout_uri:
        data["frontchannel_logout_session_required"] = client.frontchannel_logout_session_required
    if not client.is_public:
        data["client_secret_expires_at"] = 0
    return data


def client_integration(client: Client, secret: str | None = None) -> dict[str, str]:
    """What the RP developer pastes into their app: issuer, discovery URL and settings."""
    issuer = idp_settings.ISSUER
    discovery = f"{issuer}/.well-known/openid-configuration"
    secret_line = secret or "<the secret shown when it was created or rotated>"
    lines = [
        f"OIDC_ISSUER={issuer}",
        f"OIDC_DISCOVERY_URL={discovery}",
        f"OIDC_CLIENT_ID={client.client_id}",
    ]
    if not client.is_public:
        lines.append(f"OIDC_CLIENT_SECRET={secret_line}")
        lines.append(f"OIDC_TOKEN_ENDPOINT_AUTH_METHOD={client.token_endpoint_auth_method}")
    if client.redirect_uris:
        lines.append(f"OIDC_REDIRECT_URI={client.redirect_uris[0]}")
    lines.append(f"OIDC_SCOPE={' '.join(client.scopes)}")
    lines.append(f"OIDC_ID_TOKEN_ALG={client.id_token_signed_response_alg}")
    lines.append("OIDC_PKCE=S256")
    return {"issuer": issuer, "discovery_url": discovery, "env": "\n".join(lines)}
