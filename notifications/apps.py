from __future__ import annotations

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Telling people when jobs fail: rules, channels, and the deliveries made for them."""

    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here, not at the top: these modules import the models, which Django loads
        # only after this module. The delivery job types are the app's own duty, registered
        # whatever JOBS_HANDLER_MODULES lists (as the jobs app's maintenance is).
        from jobs import signals  # noqa: PLC0415
        from notifications import deliveries, receivers  # noqa: F401, PLC0415

        signals.job_failed.connect(receivers.job_failed_received, dispatch_uid="notifications.job_failed")
        signals.job_rescued.connect(receivers.job_rescued_received, dispatch_uid="notifications.job_rescued")
