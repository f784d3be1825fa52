"""Our Prometheus counters, beside django-prometheus's request metrics."""

import time

from celery.signals import task_failure, task_retry, task_success
from prometheus_client import Counter, Gauge

tokens_issued = Counter(
    "portcullis_tokens_issued_total", "Access tokens issued", ["grant_type", "client_id"]
)
logins = Counter("portcullis_logins_total", "Sign-in attempts", ["outcome"])
celery_tasks = Counter("portcullis_celery_tasks_total", "Celery task outcomes", ["task", "outcome"])
signing_key_age = Gauge(
    "portcullis_signing_key_age_seconds", "Age of the active signing key", ["alg"]
)


def signing_key_age_update() -> None:
    """Refreshed when metrics are scraped (cheap: one query)."""
    from idp.models import SigningKey

    now = time.time()
    for key in SigningKey.objects.filter(state=SigningKey.State.ACTIVE).only("alg", "activated_at"):
        signing_key_age.labels(alg=key.alg).set(now - key.activated_at.timestamp())


@task_success.connect
def _task_succeeded(sender=None, **kwargs) -> None:
    celery_tasks.labels(task=getattr(sender, "name", "?"), outcome="success").inc()


@task_failure.connect
def _task_failed(sender=None, **kwargs) -> None:
    celery_tasks.labels(task=getattr(sender, "name", "?"), outcome="failure").inc()


@task_retry.connect
def _task_retried(sender=None, **kwargs) -> None:
    celery_tasks.labels(task=getattr(sender, "name", "?"), outcome="retry").inc()
