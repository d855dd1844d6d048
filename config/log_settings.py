"""The logging settings, read from the environment: LOG_LEVEL, LOG_FORMAT and Django's LOGGING.

One handler for every logger, the root included: CELERY_WORKER_HIJACK_ROOT_LOGGER is off, so
a Celery worker finds the root configured, keeps this handler and only sets the root's level
from `-l`. Its filter copies the running job (job_id, job_type, attempt, queue, worker) onto
every line logged while a worker runs it (telemetry.logs). LOG_FORMAT=json writes one JSON
object per line (python-json-logger) for a log pipeline; plain lines name the job in words.
"""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

from config import env

# Celery logs "received" and "succeeded" (or "discarding", for a tick that expired) for every
# run of these periodic tasks, every few seconds: at DEBUG. The tasks say at INFO (or WARNING)
# themselves when they did something.
QUIET_PERIODIC_TASKS = ["jobs.rescue_stale_jobs", "jobs.sweep_unclaimed_jobs", "jobs.admit_waiting",
                        "jobs.note_delivery", "scheduler.fire_overdue_schedules", "console.rollup_minutes"]


def from_environment() -> tuple[str, str, dict[str, Any]]:
    """(LOG_LEVEL, LOG_FORMAT, LOGGING); ImproperlyConfigured names a bad value."""
    level = env.env_str("LOG_LEVEL", "INFO").strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ImproperlyConfigured(f"LOG_LEVEL={level!r} is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL.")
    fmt = env.env_str("LOG_FORMAT", "plain").strip().lower()
    if fmt not in {"plain", "json"}:
        raise ImproperlyConfigured(f"LOG_FORMAT={fmt!r} is neither plain nor json.")
    config: dict[str, Any] = {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "job_context": {"()": "telemetry.logs.JobContextFilter"},
            "quiet_periodic_tasks": {"()": "telemetry.logs.QuietTasks", "tasks": QUIET_PERIODIC_TASKS},
        },
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
            "json": {"()": "telemetry.logs.JsonFormatter"},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": fmt, "filters": ["job_context"]},
        },
        "root": {"handlers": ["console"], "level": "WARNING"},
        "loggers": {
            "conveyor": {"handlers": ["console"], "level": level, "propagate": False},
            # Django's default config prints django.* through a handler of its own in DEBUG; one
            # handler here, so that no line comes out twice now that the root has one
            "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
            "celery.worker.strategy": {"filters": ["quiet_periodic_tasks"]},
            "celery.app.trace": {"filters": ["quiet_periodic_tasks"]},
            "celery.worker.request": {"filters": ["quiet_periodic_tasks"]},
        },
    }
    if fmt == "json":
        # these two keep formatters of their own otherwise (runserver's request lines, Celery's
        # task logger), which read well as plain text
        config["loggers"]["django.server"] = {"handlers": ["console"], "level": "INFO", "propagate": False}
        config["loggers"]["celery.task"] = {"handlers": ["console"], "propagate": False}
    return level, fmt, config
