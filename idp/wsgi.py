"""WSGI entry point: `granian --interface wsgi idp.wsgi:application` (docker/entrypoint.sh),
or `gunicorn idp.wsgi`."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "idp.settings")

application = get_wsgi_application()

# Import every view now, in each worker as it starts, rather than in the first request it
# serves (which would otherwise take ~0.5 s longer than the rest). No I/O happens here.
from django.urls import get_resolver  # noqa: E402

get_resolver().url_patterns  # noqa: B018

# Everything loaded so far lives as long as the process: move it out of the garbage
# collector's sight, so that a full collection walks only what requests allocate (without
# this, full collections over Django's import-time objects show up as 50-100 ms stalls).
import gc  # noqa: E402

gc.collect()
gc.freeze()
