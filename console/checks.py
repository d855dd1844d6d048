"""The console's system check: a bad JOBS_CONSOLE_REFRESH_SECONDS fails `manage.py check` and every
start, naming the value, rather than the overview's first page view."""
from __future__ import annotations

from typing import Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from console import conf


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    try:
        conf.refresh_seconds()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="console.E001")]
    return []
