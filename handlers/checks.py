"""Django system checks for the handler registry: `manage.py check` lists every handler
configuration error (registration already refuses most of them at import)."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from handlers.registry import all_handlers, validate


@checks.register("conveyor")
def check_handlers(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    messages: list[checks.CheckMessage] = []
    for spec in all_handlers():
        for problem in validate(spec):
            messages.append(checks.Error(problem, obj=spec.type, id="conveyor.E001"))
    if settings.JOBS_DEFAULT_QUEUE not in settings.JOBS_QUEUES:
        messages.append(checks.Error(
            f"JOBS_DEFAULT_QUEUE={settings.JOBS_DEFAULT_QUEUE!r} is not one of JOBS_QUEUES "
            f"({', '.join(settings.JOBS_QUEUES)})", id="conveyor.E002"))
    if settings.JOBS_DISPATCH_MODE not in ("broker", "inline", "record"):
        messages.append(checks.Error(
            f"JOBS_DISPATCH_MODE={settings.JOBS_DISPATCH_MODE!r} must be broker, inline or record", id="conveyor.E003"))
    return messages
