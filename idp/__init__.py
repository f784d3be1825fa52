"""Portcullis: the Django project package (settings, URLs, Celery app, authorization server)."""

from idp.celery import app as celery_app

__all__ = ["celery_app"]
