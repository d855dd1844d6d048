"""The console's Django app. Listed first in INSTALLED_APPS, so that its admin/index.html (the
admin's index with the overview's link at the top) is found before the admin's own."""
from __future__ import annotations

from django.apps import AppConfig
from django.core import checks

from console.checks import check_settings


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Console"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        checks.register(check_settings)
