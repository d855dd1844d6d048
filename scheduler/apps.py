from django.apps import AppConfig


class SchedulerConfig(AppConfig):
    """Schedules: system schedules in code and user schedules, synced into django-celery-beat."""

    name = "scheduler"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from scheduler import checks, signals  # noqa: F401  (register the check and the beat_init receiver)
