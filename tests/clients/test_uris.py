"""Redirect URI rules: what may be registered, and what a presented URI matches."""

import pytest
from django.core.exceptions import ValidationError

from clients.uris import redirect_uri_matches, redirect_uri_validate


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example/callback",
        "https://app.example:8443/cb?tenant=a",
        "https://app.example/cb/",
        "https://app.example/c%20b",
        "http://127.0.0.1/callback",
        "http://127.0.0.1:5173/callback",
        "http://[::1]:8080/cb",
        "http://localhost:3000/cb",
        "com.example.app:/oauth2redirect",
        "com.example.app://callback",
    ],
)
def test_redirect_uri_accepted(uri):
    redirect_uri_validate(uri)


@pytest.mark.parametrize(
    ("uri", "code"),
    [
        ("https://app.example/cb#frag", "fragment"),
        ("https://app.example/cb#", "fragment"),
        ("https://*.example/cb", "wildcard"),
        ("https://app.example/*", "wildcard"),
        ("/callback", "relative"),
        ("app.example/callback", "relative"),
        ("http://app.example/cb", "insecure"),
        ("http://127.0.0.2/cb", "insecure"),
        ("http://[::2]/cb", "insecure"),
        ("http://localhost.evil.example/cb", "insecure"),
        ("https://user:pw@app.example/cb", "userinfo"),
        ("https://app.example@evil.example/cb", "userinfo"),
        ("javascript:alert(1)", "scheme"),
        ("data:text/html,hi", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("myapp:/cb", "scheme"),
        ("HTTPS://app.example/cb", "invalid"),
        ("https://app.example/c b", "invalid"),
        ("https://app.example/cb\n", "invalid"),
        ("https://app.example:99999/cb", "invalid"),
        ("https:///cb", "no_host"),
        ("", "required"),
        ("https://app.example/" + "a" * 2000, "too_long"),
    ],
)
def test_redirect_uri_refused_with_a_reason(uri, code):
    with pytest.raises(ValidationError) as error:
        redirect_uri_validate(uri)

    assert error.value.code == code
    assert error.value.messages[0]


REGISTERED = [
    "https://app.example/callback",
    "https://app.example/cb?x=1",
    "http://127.0.0.1/loop",
    "http://[::1]:8080/v6",
    "http://localhost:3000/dev",
]


@pytest.mark.parametrize(
    ("presented", "matches"),
    [
        ("https://app.example/callback", True),
        ("https://app.example/callback/", False),  # trailing slash
        ("https://APP.example/callback", False),  # host case: exact string
        ("https://app.example/Callback", False),
        ("https://app.example/%63allback", False),  # encoded characters
        ("https://app.example/callback?extra=1", False),
        ("https://app.example/callback#x", False),
        ("https://app.example:443/callback", False),
        ("https://user@app.example/callback", False),
        ("https://app.example/cb?x=1", True),
        ("https://app.example/cb?x=2", False),
        ("https://app.example/cb", False),
        ("http://127.0.0.1/loop", True),
        ("http://127.0.0.1:51234/loop", True),  # RFC 8252 §7.3: any port on loopback
        ("http://127.0.0.1:51234/loop?x", False),
        ("http://127.0.0.1:51234/other", False),
        ("http://localhost:51234/loop", False),  # a different loopback host
        ("http://127.0.0.1:99999/loop", False),
        ("http://127.0.0.1:1@evil.example/loop", False),
        ("http://[::1]/v6", True),
        ("http://[::1]:9/v6", True),
        ("http://localhost:4000/dev", True),
        ("https://127.0.0.1/loop", False),
        ("", False),
    ],
)
def test_redirect_uri_matching(presented, matches):
    assert redirect_uri_matches(REGISTERED, presented) is matches
