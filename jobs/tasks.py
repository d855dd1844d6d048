"""Celery tasks: thin adapters onto jobs.execution and jobs.services."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from celery import Task, shared_task
from celery.exceptions import TimeLimitExceeded
from django.db import InterfaceError, OperationalError, connection

from jobs import execution, gates, marks, services
from jobs.results import DeliveryResult, ResultBackend

logger = logging.getLogger("conveyor.worker")


class RunJobTask(Task):
    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        # A hard time limit kills the pool process; Celery reports it here, in the worker's
        # main process, which records the attempt so the job does not wait for the rescuer.
        if isinstance(exc, TimeLimitExceeded) and len(args) >= 2:
            try:
                services.job_fail_hard_timeout(job_id=args[0], token=args[1], limit=exc.args[0] if exc.args else None)
            except Exception:
                logger.exception("job %s: could not record its hard timeout; the rescuer will requeue it", args[0])


@shared_task(base=RunJobTask, name="jobs.run_job", bind=True, acks_late=True, reject_on_worker_lost=True)
def run_job(self: Task, job_id: str, token: str, job_type: str | None = None,
            concurrency_key: str | None = None) -> dict[str, Any]:
    """The one entry point for user jobs: claim with the token, run the handler, record.

    If the database is unreachable, the message is published again with a delay instead of
    being acked and forgotten; the token makes a second delivery harmless.
    """
    backend = self.backend
    task_result = (DeliveryResult(backend, self.request.id, self.request)
                   if isinstance(backend, ResultBackend) and self.request.id and not (self.ignore_result or self.request.ignore_result)
                   else None)
    try:
        return execution.execute(job_id, token, worker=self.request.hostname or "unknown", job_type=job_type,
                                 task_result=task_result)
    except (OperationalError, InterfaceError) as exc:
        connection.close()
        delay = min(60, 2 ** min(self.request.retries, 6))
        logger.warning("job %s: database unavailable (%s); message retried in %ss", job_id, exc, delay)
        raise self.retry(exc=exc, countdown=delay, max_retries=None) from None


@shared_task(name="jobs.run_system_job", bind=True, acks_late=True)
def run_system_job(self: Task, job_type: str, payload: dict[str, Any]) -> Any:
    """A system job: no Job row, visible in Flower and django-celery-results only."""
    return execution.execute_system(job_type, payload, task_id=self.request.id or "eager")


@shared_task(name="jobs.rescue_stale_jobs", ignore_result=True)
def rescue_stale_jobs() -> int:
    """Requeue running jobs whose worker stopped heartbeating."""
    return services.jobs_rescue_stale()


@shared_task(name="jobs.admit_waiting", ignore_result=True)
def admit_waiting(gate: str) -> int:
    """A gate's timer: admit its waiting jobs now that its rate window opened or a backoff ended."""
    return gates.admit(gate)


@shared_task(name="jobs.note_delivery", ignore_result=True)
def note_delivery(queue: str, priority: int, sent_at: str) -> None:
    """The sweeper's probe came through `queue` at `priority`: every message sent before it
    has been taken."""
    marks.raise_mark(queue, priority, datetime.fromisoformat(sent_at))


@shared_task(name="jobs.sweep_unclaimed_jobs", ignore_result=True)
def sweep_unclaimed_jobs() -> int:
    """Publish queued jobs that are due and that no message will deliver; expire overdue ones."""
    return services.jobs_sweep()
