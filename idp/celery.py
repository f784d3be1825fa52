"""The Celery app: Redis as the broker when REDIS_URL is set, eager execution otherwise."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "idp.settings")

app = Celery("idp")
# Every CELERY_* Django setting configures Celery (see idp/settings.py).
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Periodic work is declared here, in code, and run by exactly one `celery -A idp beat`.
app.conf.beat_schedule = {
    # Idempotent: each run does whatever step is due (publish next, promote, delete expired).
    "rotate-signing-keys": {"task": "rotate_signing_keys", "schedule": 3600.0},
    "prune-expired-tokens": {"task": "prune_expired_tokens", "schedule": 3600.0},
    "expire-sso-sessions": {"task": "expire_sso_sessions", "schedule": 300.0},
    "resume-logout-deliveries": {"task": "resume_logout_deliveries", "schedule": 60.0},
    "prune-audit-events": {"task": "prune_audit_events", "schedule": 86400.0},
}
