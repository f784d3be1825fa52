"""A bare WSGI app (no Django): the trivial endpoint that measures wrk's own ceiling."""

BODY = b'{"status":"ok"}'


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(BODY)))])  # fmt: skip
    return [BODY]
