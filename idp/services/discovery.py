"""The provider metadata (OIDC Discovery 1.0 §3, RFC 8414 §2): only what really works."""

import json
from functools import cache

from django.core.signals import setting_changed

from accounts.claims import CLAIMS_SUPPORTED
from idp.conf import idp_settings
from idp.grants import TOKEN_ENDPOINT_AUTH_METHODS
from idp.services.authorization import ACR_VALUES_SUPPORTED, PROMPTS, RESPONSE_MODES


def discovery_document() -> dict:
    issuer = idp_settings.ISSUER
    document = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/jwks.json",
        "revocation_endpoint": f"{issuer}/revoke",
        "revocation_endpoint_auth_methods_supported": list(TOKEN_ENDPOINT_AUTH_METHODS),
        "introspection_endpoint": f"{issuer}/introspect",
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
        ],
        "scopes_supported": list(idp_settings.SCOPES_SUPPORTED),
        "response_types_supported": ["code"],
        "response_modes_supported": list(RESPONSE_MODES),
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(idp_settings.SIGNING_ALGS),
        "token_endpoint_auth_methods_supported": list(TOKEN_ENDPOINT_AUTH_METHODS),
        "claims_supported": [
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "acr",
            "amr",
            "azp",
            "at_hash",
            "sid",
            *CLAIMS_SUPPORTED,
        ],  # fmt: skip
        "claim_types_supported": ["normal"],
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        "prompt_values_supported": sorted(PROMPTS),
        "acr_values_supported": list(ACR_VALUES_SUPPORTED),
        "ui_locales_supported": ["en"],
        "end_session_endpoint": f"{issuer}/end-session",
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "frontchannel_logout_supported": True,
        "frontchannel_logout_session_supported": True,
    }
    if idp_settings.REGISTRATION_ENABLED:
        document["registration_endpoint"] = f"{issuer}/register"
    return document


@cache
def discovery_body() -> bytes:
    """Serialised once per process: the document changes only with settings."""
    return json.dumps(discovery_document(), separators=(",", ":")).encode()


def _reset(*, setting: str, **kwargs) -> None:
    if setting.startswith("IDP_"):
        discovery_body.cache_clear()


setting_changed.connect(_reset)
