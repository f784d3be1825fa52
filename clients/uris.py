"""Rules for the URIs a relying party registers, and how a presented redirect URI matches.

RFC 9700 §4.1.3 and OIDC Core §3.1.2.1: redirect URIs are compared by exact string equality.
The one exception is RFC 8252 §7.3: a loopback redirect URI of a native app matches with any
port, because the app picks a free port at run time.
"""

from urllib.parse import SplitResult, urlsplit

from django.core.exceptions import ValidationError

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
# Schemes a browser would execute or that are not an app's own: never a redirect target.
FORBIDDEN_SCHEMES = frozenset(
    {"javascript", "data", "vbscript", "file", "about", "blob", "filesystem", "view-source"}
)
MAX_URI_LENGTH = 2000


def _split(uri: str) -> SplitResult:
    if not isinstance(uri, str) or not uri:
        raise ValidationError("Enter a URI.", code="required")
    if len(uri) > MAX_URI_LENGTH:
        raise ValidationError(f"URI is longer than {MAX_URI_LENGTH} characters.", code="too_long")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in uri):
        raise ValidationError("URI contains spaces or control characters.", code="invalid")
    if "#" in uri:
        raise ValidationError("URI must not contain a fragment (#).", code="fragment")
    if "*" in uri:
        raise ValidationError("Wildcards (*) are not allowed; register each URI.", code="wildcard")
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018  (raises ValueError for a malformed port)
    except ValueError as exc:
        raise ValidationError(f"URI is malformed: {exc}.", code="invalid") from exc
    if not parts.scheme:
        raise ValidationError("URI must be absolute (start with https://).", code="relative")
    return parts


def _check_web(parts: SplitResult, *, what: str) -> None:
    """An http(s) URI: https anywhere, plain http only on a loopback host."""
    if not parts.netloc or not parts.hostname:
        raise ValidationError(f"{what} must name a host.", code="no_host")
    if "@" in parts.netloc:
        raise ValidationError(f"{what} must not contain a user name or password.", code="userinfo")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise ValidationError(
            f"{what} must use https (plain http is only allowed for 127.0.0.1, [::1] "
            "and localhost).",
            code="insecure",
        )


def redirect_uri_validate(uri: str) -> None:
    """Raise ValidationError unless `uri` may be registered as a redirect URI."""
    parts = _split(uri)
    scheme = parts.scheme
    if not uri.startswith(scheme + ":"):  # urlsplit lower-cases the scheme it returns
        raise ValidationError("URI scheme must be lower-case.", code="invalid")
    if scheme in {"http", "https"}:
        _check_web(parts, what="Redirect URI")
        return
    if scheme in FORBIDDEN_SCHEMES:
        raise ValidationError(f"The {scheme}: scheme is not allowed.", code="scheme")
    # RFC 8252 §7.1: a native app's private-use scheme is a reverse domain name it controls.
    if "." not in scheme:
        raise ValidationError(
            "A private-use scheme for a native app must be a reverse domain name, "
            "e.g. com.example.app:/callback.",
            code="scheme",
        )
    if parts.netloc and "@" in parts.netloc:
        raise ValidationError("URI must not contain a user name or password.", code="userinfo")


def web_uri_validate(uri: str, *, what: str = "URI") -> None:
    """Raise ValidationError unless `uri` is an https URL (http for loopback hosts)."""
    parts = _split(uri)
    if parts.scheme not in {"http", "https"}:
        raise ValidationError(f"{what} must be an https URL.", code="scheme")
    _check_web(parts, what=what)


def _is_loopback_http(parts: SplitResult) -> bool:
    return parts.scheme == "http" and (parts.hostname or "") in LOOPBACK_HOSTS


def redirect_uri_matches(registered: list[str], presented: str) -> bool:
    """Is `presented` one of the `registered` URIs? Exact string match, except the port of
    a loopback http URI (RFC 8252 §7.3)."""
    if not isinstance(presented, str) or not presented:
        return False
    if presented in registered:
        return True
    try:
        asked = urlsplit(presented)
        asked.port  # noqa: B018  (raises ValueError for a malformed port)
    except ValueError:
        return False
    if not _is_loopback_http(asked) or "@" in asked.netloc or asked.fragment or "#" in presented:
        return False
    for uri in registered:
        reg = urlsplit(uri)
        if (
            _is_loopback_http(reg)
            and reg.hostname == asked.hostname
            and reg.path == asked.path
            and reg.query == asked.query
        ):
            return True
    return False


def resource_validate(uri: str) -> None:
    """RFC 8707 §2: a resource indicator is an absolute URI without a fragment."""
    parts = _split(uri)
    if parts.scheme in FORBIDDEN_SCHEMES:
        raise ValidationError(f"The {parts.scheme}: scheme is not allowed.", code="scheme")
