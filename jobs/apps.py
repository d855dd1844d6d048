from __future__ import annotations

from django.apps import AppConfig


class JobsConfig(AppConfig):
    """Everything about a job's life: records, transitions, tasks, admin, commands."""

    name = "jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here, not at the top: these modules import the models, which Django loads
        # only after this module (ready() is where an app may import them). Importing them
        # registers the jobs app's own maintenance handlers and connects the worker's Celery
        # signals (shutdown, database session, the job's log context, the liveness bootstep).
        from django.db.models.signals import post_migrate  # noqa: PLC0415

        from jobs import maintenance  # noqa: F401, PLC0415
        from jobs.operator_groups import on_post_migrate  # noqa: PLC0415
        from jobs.worker import inline, liveness, log_context, session, shutdown  # noqa: F401, PLC0415

        inline.install()  # publishing's inline mode runs jobs through the worker's runner
        # the operator groups, again after a flush (a test's) emptied them
        post_migrate.connect(on_post_migrate, dispatch_uid="jobs.operator_groups")
