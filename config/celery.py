"""The Celery application. Settings come from Django settings under the CELERY_ prefix."""
from __future__ import annotations

import os

from celery import Celery

from config import kombu_redis

kombu_redis.install()

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("conveyor")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
