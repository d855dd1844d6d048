"""Celery tasks: thin adapters onto jobs.execution and jobs.services."""
from __future__ import annotations

from typing import Any

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError, connection

from jobs import execution, services

logger = logging.getLogger("conveyor.worker")


@shared_task(name="jobs.run_job", bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=False)
def run_job(self: Any, job_id: str, token: str) -> dict[str, Any]:
    """The one entry point for user jobs: claim with the token, run the handler, record.

    If the database is unreachable, the message is published again with a delay instead of
    being acked and forgotten; the token makes a second delivery harmless.
    """
    try:
        return execution.execute(job_id, token, worker=self.request.hostname or "unknown")
    except (OperationalError, InterfaceError) as exc:
        connection.close()
        delay = min(60, 2 ** min(self.request.retries, 6))
        logger.warning("job %s: database unavailable (%s); message retried in %ss", job_id, exc, delay)
        raise self.retry(exc=exc, countdown=delay, max_retries=None) from None


@shared_task(name="jobs.rescue_stale_jobs", ignore_result=True)
def rescue_stale_jobs() -> int:
    """Requeue running jobs whose worker stopped heartbeating."""
    return services.jobs_rescue_stale()


@shared_task(name="jobs.sweep_unclaimed_jobs", ignore_result=True)
def sweep_unclaimed_jobs() -> int:
    """Publish queued jobs that are due and that no message will deliver."""
    return services.jobs_sweep()
