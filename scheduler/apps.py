from django.apps import AppConfig


class SchedulerConfig(AppConfig):
    """Schedules: system schedules in code and user schedules, synced into django-celery-beat."""

    name = "scheduler"
    default_auto_field = "django.db.models.BigAutoField"
