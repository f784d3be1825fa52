"""gunicorn settings for Portcullis: `gunicorn -c docker/gunicorn.conf.py idp.wsgi`.

Every value can be overridden by the environment variable named in the comment.
"""

import multiprocessing
import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"  # noqa: S104
# WEB_CONCURRENCY: worker processes; default two per core (the token endpoint is CPU-bound:
# signing and hashing; more processes than that only add memory).
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
# GUNICORN_THREADS: >1 switches to the gthread worker (helps when requests wait on I/O).
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
worker_class = "gthread" if threads > 1 else "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "10000"))
max_requests_jitter = max_requests // 10
# Keys are loaded once per worker after fork; nothing is preloaded that holds a connection.
preload_app = False
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
access_log_format = (
    '{"remote":"%(h)s","request":"%(r)s","status":%(s)s,"bytes":%(b)s,'
    '"duration_us":%(D)s,"request_id":"%({x-request-id}o)s","agent":"%(a)s"}'
)
errorlog = "-"
# Behind a TLS-terminating proxy: trust its X-Forwarded-* only from these addresses.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def post_fork(server, worker):
    # With several workers, django-prometheus needs a shared directory for its metrics.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
