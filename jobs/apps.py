from django.apps import AppConfig


class JobsConfig(AppConfig):
    """Everything about a job's life: records, transitions, tasks, admin, commands."""

    name = "jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from jobs import shutdown, worker_session  # noqa: F401  (connect the worker signals)
