from __future__ import annotations

from django.apps import AppConfig


class SchedulerConfig(AppConfig):
    """Schedules: system schedules in code and user schedules, synced into django-celery-beat."""

    name = "scheduler"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registering the system check and the beat_init receiver imports the services, hence
        # the models: that must wait for Django's app registry, which is ready only here.
        from scheduler import checks, signals  # noqa: F401, PLC0415
