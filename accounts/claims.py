"""The standard claims (OIDC Core §5.1) we serve about a user, grouped by scope (§5.4)."""

from typing import Any

from accounts.models import User

SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "profile": (
        "name", "family_name", "given_name", "middle_name", "nickname", "preferred_username",
        "profile", "picture", "website", "gender", "birthdate", "zoneinfo", "locale",
        "updated_at",
    ),
    "email": ("email", "email_verified"),
    "address": ("address",),
    "phone": ("phone_number", "phone_number_verified"),
}  # fmt: skip
CLAIMS_SUPPORTED = ("sub", *(claim for claims in SCOPE_CLAIMS.values() for claim in claims))


def _value(user: User, claim: str) -> Any:
    if claim == "name":
        return user.full_name
    if claim == "updated_at":
        return int(user.updated_at.timestamp()) if user.updated_at else None
    if claim == "address":
        parts = {
            "street_address": user.address_street,
            "locality": user.address_locality,
            "region": user.address_region,
            "postal_code": user.address_postal_code,
            "country": user.address_country,
        }
        parts = {k: v for k, v in parts.items() if v}
        if not parts:
            return None
        lines = [user.address_street, " ".join(
            p for p in (user.address_postal_code, user.address_locality) if p
        ), user.address_region, user.address_country]  # fmt: skip
        parts["formatted"] = "\n".join(line for line in lines if line)
        return parts
    if claim == "phone_number_verified":
        return user.phone_number_verified if user.phone_number else None
    return getattr(user, claim, None)


def user_claims(
    user: User, *, scopes: list[str] | set[str], requested: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`sub` plus the claims the granted scopes and the `claims` request parameter ask for.

    Claims without a value are left out, as OIDC Core §5.3.2 asks.
    """
    names: list[str] = []
    for scope in scopes:
        names.extend(SCOPE_CLAIMS.get(scope, ()))
    names.extend(name for name in (requested or {}) if name in CLAIMS_SUPPORTED)
    claims: dict[str, Any] = {"sub": str(user.subject)}
    for name in dict.fromkeys(names):
        if name == "sub":
            continue
        value = _value(user, name)
        if value not in (None, ""):
            claims[name] = value
    return claims


def claims_request_limit(
    claims: dict[str, Any] | None, scopes: list[str] | set[str]
) -> dict[str, Any] | None:
    """Keep, in a `claims` request, only claims the granted scopes cover: the request picks
    among what the user consented to, it never adds to it (OIDC Core §5.5)."""
    if not claims:
        return claims
    allowed = {"sub"} | {c for s in scopes for c in SCOPE_CLAIMS.get(s, ())}
    return {
        member: {name: spec for name, spec in requested.items() if name in allowed}
        for member, requested in claims.items()
    }
