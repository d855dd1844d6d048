from __future__ import annotations

from importlib import import_module

from django.apps import AppConfig
from django.conf import settings


class HandlersConfig(AppConfig):
    """Imports every handler module so that their @handler registrations exist at start-up."""

    name = "handlers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        for module in settings.JOBS_HANDLER_MODULES:
            import_module(module)
        # registers the system check; checks reads the registry, which is complete only now
        from handlers import checks  # noqa: F401, PLC0415
