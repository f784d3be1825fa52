"""Where the time goes: requests replayed in-process through Portcullis's WSGI application,
under pyinstrument, with their SQL queries counted. Run by `bench/run.py --profile` with the
benchmark's environment (production settings, PostgreSQL, Redis); it reads the requests to
replay as JSON on standard input and writes one text profile per request kind.
"""

import io
import json
import sys
import time
from pathlib import Path

import django
from django.db import connection


def environ_for(spec: dict) -> dict:
    body = spec.get("body", "").encode()
    environ = {
        "REQUEST_METHOD": spec.get("method", "GET"),
        "PATH_INFO": spec["path"],
        "QUERY_STRING": spec.get("query", ""),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": spec["port"],
        "HTTP_HOST": f"127.0.0.1:{spec['port']}",
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(body)),
    }
    if body:
        environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
    for name, value in spec.get("headers", {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def call(application, spec: dict) -> tuple[str, bytes]:
    status_line = []

    def start_response(status, headers, exc_info=None):
        status_line.append(status)

    chunks = application(environ_for(spec), start_response)
    body = b"".join(chunks)
    if hasattr(chunks, "close"):
        chunks.close()
    return status_line[0], body


def main() -> None:
    from pyinstrument import Profiler

    job = json.load(sys.stdin)
    out_dir = Path(job["output"])
    out_dir.mkdir(parents=True, exist_ok=True)
    django.setup()
    from django.core.wsgi import get_wsgi_application

    application = get_wsgi_application()
    summary = {}
    for name, spec in job["requests"].items():
        specs = spec if isinstance(spec, list) else [spec] * job["count"]
        call(application, specs[0])  # warm: keys parsed, caches filled
        queries = []

        def count(execute, sql, params, many, context, _q=queries):
            _q.append(sql)
            return execute(sql, params, many, context)

        profiler = Profiler(interval=0.0002)
        started = time.perf_counter()
        with connection.execute_wrapper(count):
            profiler.start()
            for one in specs[1:] if isinstance(spec, list) else specs:
                status, body = call(application, one)
                if not status.startswith(("200", "302")):
                    sys.exit(f"profile: {name} answered {status}: {body[:300]!r}")
            profiler.stop()
        elapsed = time.perf_counter() - started
        runs = len(specs) - 1 if isinstance(spec, list) else len(specs)
        summary[name] = {
            "ms_per_request": round(elapsed * 1000 / runs, 2),
            "queries_per_request": round(len(queries) / runs, 1),
        }
        (out_dir / f"profile-{name}.txt").write_text(
            profiler.output_text(unicode=True, color=False, show_all=bool(job.get("show_all")))
        )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
