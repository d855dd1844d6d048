"""The Celery application. Settings come from Django settings under the CELERY_ prefix."""
from __future__ import annotations

import os

from celery import Celery

from config.kombu_redis import install as guard_unacked_restore

guard_unacked_restore()

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("conveyor")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
