"""Django and Django REST framework integration of the access-token verifier.

# settings.py
PORTCULLIS_RS = {"ISSUER": "https://id.example.com", "AUDIENCE": "https://id.example.com"}

# views.py: plain Django
from portcullis_rs.django import require_access_token

@require_access_token("orders:read")
def orders(request):
    return JsonResponse({"for": request.access_token["sub"]})

# DRF: REST_FRAMEWORK = {"DEFAULT_AUTHENTICATION_CLASSES":
#     ["portcullis_rs.django.PortcullisAuthentication"]}
"""

from functools import cache, wraps

from django.conf import settings
from django.http import JsonResponse

from portcullis_rs.verifier import InvalidToken, Verifier, bearer_token


@cache
def get_verifier() -> Verifier:
    config = settings.PORTCULLIS_RS
    return Verifier(
        issuer=config["ISSUER"],
        audience=config["AUDIENCE"],
        algorithms=config.get("ALGORITHMS", ("RS256", "ES256", "EdDSA")),
        leeway=config.get("LEEWAY", 30),
    )


def _challenge(error: str, status: int) -> JsonResponse:
    response = JsonResponse({"error": error}, status=status)
    response["WWW-Authenticate"] = f'Bearer error="{error}"'
    return response


def require_access_token(*scopes: str):
    """View decorator: 401 without a valid access token, 403 without the scopes."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            token = bearer_token(request.headers.get("Authorization"))
            if token is None:
                response = JsonResponse({}, status=401)
                response["WWW-Authenticate"] = "Bearer"
                return response
            try:
                claims = get_verifier().verify(token)
            except InvalidToken:
                return _challenge("invalid_token", 401)
            if set(scopes) - set(str(claims.get("scope", "")).split()):
                return _challenge("insufficient_scope", 403)
            request.access_token = claims
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


class TokenUser:
    """Who the token speaks for: a user (`sub`) or, for client_credentials, a client."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, claims: dict) -> None:
        self.claims = claims
        self.pk = self.id = claims["sub"]
        self.client_id = claims.get("client_id")
        self.scopes = set(str(claims.get("scope", "")).split())


class PortcullisAuthentication:
    """A Django REST framework authentication class (DRF is imported only when used)."""

    def authenticate(self, request):
        token = bearer_token(request.headers.get("Authorization"))
        if token is None:
            return None
        try:
            claims = get_verifier().verify(token)
        except InvalidToken as exc:
            from rest_framework.exceptions import AuthenticationFailed

            raise AuthenticationFailed("invalid_token") from exc
        return TokenUser(claims), claims

    def authenticate_header(self, request) -> str:
        return 'Bearer error="invalid_token"'
