"""OAuth error helpers shared by the protocol code."""

import re

from authlib.oauth2.rfc6749 import OAuth2Error

# RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E. Anything else (quotes,
# backslashes, non-ASCII, controls: often echoed from hostile input) becomes "?".
_NOT_ALLOWED = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")


def description(text: str, *, limit: int = 300) -> str:
    """A safe error_description built from text that may contain client input."""
    return _NOT_ALLOWED.sub("?", text)[:limit]


class InvalidTargetError(OAuth2Error):
    """RFC 8707 §2: the requested resource is not one this client may get a token for."""

    error = "invalid_target"
