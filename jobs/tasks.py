"""Celery tasks: thin adapters onto jobs.execution and jobs.services."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from celery import Task, shared_task
from celery.exceptions import TimeLimitExceeded
from celery.worker import state as worker_state

from jobs import execution, gates, marks, outage, services
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

    If the database is unreachable, the delivery waits for it (see _CLAIM_WAIT_LIMIT), then
    offers its message again; it never goes through Celery's retry or result backend.
    """
    backend = self.backend
    task_result = (DeliveryResult(backend, self.request.id, self.request)
                   if isinstance(backend, ResultBackend) and self.request.id and not (self.ignore_result or self.request.ignore_result)
                   else None)
    deadline = time.monotonic() + _CLAIM_WAIT_LIMIT
    since = _waiting_since(self.request)
    if since is not None:  # offered again by a delivery that waited: the same outage, announced then
        outage.resume(job_id, since)
    try:
        while True:
            try:
                if outage.waiting(job_id):
                    outage.probe()
                    outage.reachable(job_id)
                return execution.execute(job_id, token, worker=self.request.hostname or "unknown",
                                         job_type=job_type, task_result=task_result)
            except outage.OutcomeNotRecorded as exc:
                logger.error("%s; once it is back, the rescuer puts the job back to queued", exc)
                return {"job": job_id, "outcome": "unrecorded"}
            except outage.DATABASE_ERRORS as exc:
                # The claim (or what precedes it) could not reach the database; the outcome
                # has its own wait in execution and ends in OutcomeNotRecorded instead.
                outage.unavailable(job_id, "to be claimed", exc)
                if not outage.wait_until_reachable(job_id, deadline, stop=_worker_stopping):
                    return _offer_again(self, job_id, token)
    finally:
        outage.forget(job_id)


# A delivery whose job cannot reach the database waits in place, probing it with a backoff
# capped at 2 s (jobs.outage). While the database is down no job can be claimed anyway, so
# holding the message costs nothing; handing it back at once would only spin it through Redis,
# a failed claim and a log line at a time. The wait is bounded: after _CLAIM_WAIT_LIMIT seconds
# (or at once in a worker being stopped, which a solo worker can see; a prefork child cannot,
# so the bound also caps how long it holds up a warm shutdown) the same message is published
# again with a countdown and this one acked. Its next delivery, on any worker, is harmless
# whatever happened meanwhile: the claim needs the job's token and its queued status. The new
# message carries when the job began to wait, so that the same outage is announced once.
# self.retry() is not used: Celery writes RETRY (and, when the retry cannot be sent, FAILURE)
# through the result backend, that is, to the database that is down.
_CLAIM_WAIT_LIMIT = 30.0
_OFFER_AGAIN_COUNTDOWN = 10.0


def _waiting_since(request: Any) -> float | None:
    value = getattr(request, outage.WAIT_HEADER, None)
    if value is None:
        value = (getattr(request, "headers", None) or {}).get(outage.WAIT_HEADER)
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _worker_stopping() -> bool:
    return worker_state.should_stop not in (None, False) or worker_state.should_terminate not in (None, False)


def _offer_again(task: Task, job_id: str, token: str) -> dict[str, Any]:
    """Publish this delivery's message again in _OFFER_AGAIN_COUNTDOWN seconds; this one is acked."""
    request = task.request
    info = request.delivery_info or {}
    limits = request.timelimit or (None, None)
    since = outage.waiting_since(job_id) or time.time()
    try:
        task.apply_async(args=[job_id, token], kwargs=request.kwargs or {}, countdown=_OFFER_AGAIN_COUNTDOWN,
                         queue=info.get("routing_key"), priority=info.get("priority"),
                         time_limit=limits[0], soft_time_limit=limits[1], headers={outage.WAIT_HEADER: since})
    except Exception as exc:  # Redis is down too: the job is queued in the database, the sweeper's
        logger.warning("job %s: still no database, and its message could not be offered again (%s); "
                       "the sweeper will publish it", job_id, exc)
        return {"job": job_id, "outcome": "unsent"}
    logger.debug("job %s: still no database; its message is offered again in %.0fs", job_id, _OFFER_AGAIN_COUNTDOWN)
    return {"job": job_id, "outcome": "waiting", "retryIn": _OFFER_AGAIN_COUNTDOWN}


@shared_task(name="jobs.run_system_job", bind=True, acks_late=True)
def run_system_job(self: Task, job_type: str, payload: dict[str, Any]) -> Any:
    """A system job: no Job row, visible in Flower and django-celery-results only."""
    return execution.execute_system(job_type, payload, task_id=self.request.id or "eager")


def _maintenance(name: str, duty: Callable[[], int]) -> int:
    """Run a periodic duty; while the database is unreachable, one warning line per tick
    instead of a traceback (the next tick does the work)."""
    try:
        return duty()
    except outage.DATABASE_ERRORS as exc:
        outage.close_connection()
        logger.warning("%s skipped this tick: the database is unavailable (%s)", name, outage.reason(exc))
        return 0


@shared_task(name="jobs.rescue_stale_jobs", ignore_result=True)
def rescue_stale_jobs() -> int:
    """Requeue running jobs whose worker stopped heartbeating."""
    return _maintenance("rescuer", services.jobs_rescue_stale)


@shared_task(name="jobs.admit_waiting", ignore_result=True)
def admit_waiting(gate: str) -> int:
    """A gate's timer: admit its waiting jobs now that its rate window opened or a backoff
    ended (the sweeper does it later if this fails)."""
    return _maintenance(f"admission of {gate}", lambda: gates.admit(gate))


@shared_task(name="jobs.note_delivery", ignore_result=True)
def note_delivery(queue: str, priority: int, sent_at: str) -> None:
    """The sweeper's probe came through `queue` at `priority`: every message sent before it
    has been taken."""
    marks.raise_mark(queue, priority, datetime.fromisoformat(sent_at))


@shared_task(name="jobs.sweep_unclaimed_jobs", ignore_result=True)
def sweep_unclaimed_jobs() -> int:
    """Publish queued jobs that are due and that no message will deliver; expire overdue ones."""
    return _maintenance("sweeper", services.jobs_sweep)
