"""Celery tasks: thin adapters onto the worker (`jobs.worker`) and the services.

Their names (`jobs.publishing.task_names`) are what publishers send and beat schedules store.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from celery import Task, shared_task
from celery.exceptions import TimeLimitExceeded

from jobs import services
from jobs.publishing import task_names
from jobs.services import gates
from jobs.worker import delivery, marks, outage, untracked

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


@shared_task(base=RunJobTask, name=task_names.RUN_JOB, bind=True, acks_late=True, reject_on_worker_lost=True)
def run_job(self: Task, job_id: str, token: str, job_type: str | None = None,
            concurrency_key: str | None = None) -> dict[str, Any]:
    """The one entry point for tracked jobs: claim with the token, run the handler, record.

    If the database is unreachable, the delivery waits for it, then offers its message again
    (`jobs.worker.delivery`); it never goes through Celery's retry or result backend.
    """
    return delivery.deliver(self, job_id, token, job_type)


@shared_task(name=task_names.RUN_UNTRACKED_JOB, bind=True, acks_late=True)
def run_untracked_job(self: Task, job_type: str, payload: dict[str, Any]) -> Any:
    """An untracked job: no Job row, visible in Flower and django-celery-results only."""
    return untracked.execute_untracked(job_type, payload, task_id=self.request.id or "eager")


def _maintenance(name: str, duty: Callable[[], int]) -> int:
    """Run a periodic duty; while the database is unreachable, one warning line per tick
    instead of a traceback (the next tick does the work)."""
    try:
        return duty()
    except outage.DATABASE_ERRORS as exc:
        outage.close_connection()
        logger.warning("%s skipped this tick: the database is unavailable (%s)", name, outage.reason(exc))
        return 0


@shared_task(name=task_names.RESCUE_STALE_JOBS, ignore_result=True)
def rescue_stale_jobs() -> int:
    """Requeue running jobs whose worker stopped heartbeating."""
    rescued = _maintenance("rescuer", services.jobs_rescue_stale)
    # INFO only when it did something: it runs every few seconds (Celery's own lines about it
    # are at DEBUG, see LOGGING)
    if rescued:
        logger.info("rescuer: %s job(s) whose worker stopped heartbeating taken back", rescued)
    else:
        logger.debug("rescuer: no stale job")
    return rescued


@shared_task(name=task_names.ADMIT_WAITING, ignore_result=True)
def admit_waiting(gate: str) -> int:
    """A gate's timer: admit its waiting jobs now that its rate window opened or a backoff
    ended (the sweeper does it later if this fails)."""
    return _maintenance(f"admission of {gate}", lambda: gates.admit(gate))


@shared_task(name=task_names.NOTE_DELIVERY, ignore_result=True)
def note_delivery(queue: str, priority: int, sent_at: str) -> None:
    """The sweeper's probe came through `queue` at `priority`: every message sent before it
    has been taken."""
    marks.raise_mark(queue, priority, datetime.fromisoformat(sent_at))


@shared_task(name=task_names.SWEEP_UNCLAIMED_JOBS, ignore_result=True)
def sweep_unclaimed_jobs() -> int:
    """Publish queued jobs that are due and that no message will deliver; expire overdue ones."""
    swept = _maintenance("sweeper", services.jobs_sweep)
    if swept:  # INFO only when it did something, as the rescuer
        logger.info("sweeper: %s queued job(s) given a message (held, waiting for a limit, or lost)", swept)
    else:
        logger.debug("sweeper: no job without a message")
    return swept
