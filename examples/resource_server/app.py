"""An example resource server: an "orders" API that accepts Portcullis access tokens,
verified on its own with portcullis_rs (no call to Portcullis per request).

    RS_ISSUER=http://127.0.0.1:8000 RS_AUDIENCE=http://127.0.0.1:8000 \
        .venv/bin/python examples/resource_server/app.py      # http://127.0.0.1:8002/orders
"""

import json
import os
import sys
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from portcullis_rs import InvalidToken, Verifier, bearer_token  # noqa: E402

verifier = Verifier(
    issuer=os.environ.get("RS_ISSUER", "http://127.0.0.1:8000"),
    audience=os.environ.get("RS_AUDIENCE", os.environ.get("RS_ISSUER", "http://127.0.0.1:8000")),
)


def app(environ, start_response):
    def reply(status: str, body: dict, *headers: tuple[str, str]):
        start_response(status, [("Content-Type", "application/json"), *headers])
        return [json.dumps(body).encode()]

    if environ.get("PATH_INFO") != "/orders":
        return reply("404 Not Found", {"error": "not_found"})
    token = bearer_token(environ.get("HTTP_AUTHORIZATION"))
    if token is None:
        return reply("401 Unauthorized", {}, ("WWW-Authenticate", "Bearer"))
    try:
        claims = verifier.verify(token)
    except InvalidToken as exc:
        return reply("401 Unauthorized", {"error": "invalid_token", "reason": str(exc)},
                     ("WWW-Authenticate", 'Bearer error="invalid_token"'))  # fmt: skip
    return reply("200 OK", {"orders": [], "sub": claims["sub"], "client_id": claims["client_id"],
                            "kid_verified": True})  # fmt: skip


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002
        sys.stderr.write("resource-server: " + (format % args) + "\n")


if __name__ == "__main__":
    port = int(os.environ.get("RS_PORT", "8002"))
    with make_server("127.0.0.1", port, app, handler_class=QuietHandler) as server:
        print(f"Resource server on http://127.0.0.1:{port}/orders", flush=True)
        server.serve_forever()
