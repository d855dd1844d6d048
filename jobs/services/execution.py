"""The life of an execution: what a worker's delivery does to its job.

A worker claims a job by matching its token: redelivered, duplicated or stale messages claim
nothing and do nothing. While it runs, the execution heartbeats (and stores progress); every
write it makes is guarded by its token. It ends in exactly one verb: `job_complete`,
`job_fail` (back to queued with a backoff while attempts are left, else failed with its error
kept), `job_acknowledge_cancel`, or `job_release` (given back, its worker shutting down).
Ending an execution frees the room it held in its gate for the next waiting job.
"""
from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from handlers.registry import get_handler
from jobs import publishing, validation
from jobs.conf import conf
from jobs.errors import JobValidationError
from jobs.models import Job, JobAttempt
from jobs.services import reporting
from jobs.services.expiry import job_expire_if_overdue
from jobs.services.gates import admit_on_commit, schedule_on_commit
from jobs.services.pauses import job_hold_if_paused
from jobs.services.transitions import (
    _NOT_OWNED,
    _expiry,
    _explain_miss,
    _finish_attempt,
    _owned,
    _transition,
)
from jobs.states import AttemptOutcome, JobStatus
from jobs.storage import queries
from jobs.storage.result_backend import DeliveryResult

logger = logging.getLogger("conveyor.jobs")


def job_claim(*, job_id: Any, token: Any, worker: str) -> Job | None:
    """Make this execution the job's one live execution, or return None.

    None means the message was stale or a duplicate (wrong token, job not queued): the
    caller acks it and does nothing. One UPDATE ... RETURNING, with the attempt's row.
    """
    try:
        pk = uuid.UUID(str(job_id))
        tok = uuid.UUID(str(token))
    except ValueError:
        logger.warning("run_job message with a malformed job id %r or token %r ignored", job_id, token)
        return None
    now = timezone.now()
    together = connection.vendor == "postgresql"
    job = queries.claim_job(job_id=pk, token=tok, worker=worker[:255], now=now, with_attempt=together)
    if job is None:
        if not job_hold_if_paused(job_id=pk, token=tok, now=now):
            job_expire_if_overdue(job_id=pk, token=tok, now=now)
        return None
    job.worker = worker[:255]
    if not together:
        JobAttempt.objects.create(job_id=job.pk, number=job.attempts, worker=job.worker, started_at=now)
    reporting.claimed(job, now)
    return job


@dataclass(frozen=True)
class Liveness:
    """What an execution learns when it writes: may it go on, and was a cancel requested."""

    owned: bool
    cancel_requested: bool


def job_heartbeat(*, job: Job, progress: int | None = None, message: str | None = None) -> Liveness:
    """Bump heartbeat_at (and store progress when given) for a running execution."""
    changes: dict[str, Any] = {"heartbeat_at": timezone.now()}
    if progress is not None:
        if not 0 <= progress <= 100:
            raise JobValidationError("progress", f"must be from 0 to 100, got {progress}")
        changes["progress"] = progress
        changes["progress_message"] = (message or "")[:500]
        changes["updated_at"] = changes["heartbeat_at"]
    live = Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, token=job.token)
    if live.filter(cancel_requested_at__isnull=True).update(**changes):
        return Liveness(owned=True, cancel_requested=False)
    # a miss is rare: either a cancel was requested, or this execution no longer owns the job
    if live.update(**changes):
        return Liveness(owned=True, cancel_requested=True)
    return Liveness(owned=False, cancel_requested=False)


def job_cancel_requested(*, job: Job) -> bool:
    return Job.objects.filter(pk=job.pk, token=job.token, cancel_requested_at__isnull=False).exists()


def _result_problem(result: Any) -> str | None:
    problem = validation.result_problem(result)
    if problem is None:
        try:
            json.dumps(result, allow_nan=False)
        except (TypeError, ValueError) as exc:
            problem = f"is not JSON-serializable: {exc}"
    return problem


def job_complete(*, job: Job, result: Any, task_result: DeliveryResult | None = None,
                 summary: dict[str, Any] | None = None) -> bool:
    """running -> completed, storing the handler's result and the durations.

    On PostgreSQL the job's row and its attempt's are written by one statement; given the
    delivery's `task_result` and the `summary` it returns, so is Celery's result row. True
    when that row was written here (the result backend then skips it).
    """
    problem = _result_problem(result)
    if problem is not None:
        job_fail(job=job, error=f"the handler's result cannot be stored: {problem}", retry=False, reason="result")
        return False
    now = timezone.now()
    duration = (now - (job.started_at or now)).total_seconds()
    stored = False
    if connection.vendor == "postgresql":
        stored_sql, stored_params = "", dict[str, Any]()
        if task_result is not None and summary is not None:
            row, update = task_result.row(summary)
            upsert, stored_params = queries.task_result_upsert(row, update, source="done")
            stored_sql, stored = f", stored AS ({upsert})", True
        done = queries.complete_job(job=job, result=result, duration=duration, now=now, stored=stored_sql,
                                    stored_params=stored_params)
        # a retry after a commit whose acknowledgement was lost finds its own completion
        if not done and not Job.objects.filter(pk=job.pk, token=job.token, attempts=job.attempts,
                                               status=JobStatus.COMPLETED).exists():
            raise _explain_miss(job.pk, JobStatus.COMPLETED, _NOT_OWNED)
        if not done:
            logger.info("job %s: its completion had already been stored", job.pk)
        reporting.attempt_ended(job, AttemptOutcome.COMPLETED, now)
        admit_on_commit(job.gate)
    else:
        _end_execution(job, target=JobStatus.COMPLETED, outcome=AttemptOutcome.COMPLETED, result=result,
                       progress=100, completed_at=now, actual_duration=duration, error="", error_traceback="")
    reporting.finished(job, JobStatus.COMPLETED, "handler")
    logger.info("job %s completed on attempt %s by %s", job.pk, job.attempts, job.worker)
    return stored


def _end_execution(
    job: Job, *, target: str, outcome: str, attempt_error: str = "", attempt_traceback: str = "",
    publish: tuple[uuid.UUID, float | None] | None = None, **changes: Any,
) -> None:
    """The running execution's job leaves running (guarded by its token) and its attempt's
    row is closed, in one transaction; `publish` = (token, countdown) sends it again after.
    The room the execution held in its gate goes to the next waiting job."""
    with transaction.atomic():
        _transition(job.pk, target=target, sources=frozenset({JobStatus.RUNNING}), guard=_owned(job),
                    reason=_NOT_OWNED, heartbeat_at=None, **changes)
        _finish_attempt(job, outcome, attempt_error, attempt_traceback)
        if publish is not None:
            publishing.publish_on_commit(job, *publish)
        admit_on_commit(job.gate)


def _requeue(job: Job, *, run_at: datetime | None, outcome: str, attempt_error: str = "",
             attempt_traceback: str = "", **changes: Any) -> None:
    """running -> queued with a new token: published now, as a countdown, or held in the
    database until the sweeper sees it due; a limited job waits at its gate instead, with a
    timer for when it is due."""
    spec = get_handler(job.type)
    now = timezone.now()
    token = uuid.uuid4()
    dispatched_at, countdown = publishing.dispatch_plan(run_at, now) if job.gate is None else (None, None)
    with transaction.atomic():  # the timer goes out with the commit, not before it
        schedule_on_commit(job.gate, run_at)
        _end_execution(
            job, target=JobStatus.QUEUED, outcome=outcome, attempt_error=attempt_error,
            attempt_traceback=attempt_traceback, publish=(token, countdown) if dispatched_at is not None else None,
            token=token, run_at=run_at, dispatched_at=dispatched_at, queued_at=now,
            expires_at=_expiry(spec, run_at or now) if spec is not None else None, **changes,
        )


def job_fail(
    *, job: Job, error: str, traceback: str = "", retry: bool = True, delay: float | None = None,
    timed_out: bool = False, reason: str = "handler",
) -> str:
    """Record a failed attempt; requeue with backoff while attempts are left, else fail.

    Returns the job's new status (queued or failed). `reason` says, for the metrics and the
    notifications, what failed it for good: the handler (default), its result ("result"), a
    type this worker does not know ("unregistered") or an input its schema refuses
    ("invalid_input").
    """
    now = timezone.now()
    error = error or "the handler raised an error without a message"
    if retry and job.attempts < job.max_attempts:
        if delay is None:
            spec = get_handler(job.type)
            delay = spec.backoff.delay(job.attempts) if spec is not None else conf.backoff_base
        _requeue(job, run_at=now + timedelta(seconds=max(0.0, delay)),
                 outcome=AttemptOutcome.TIMEOUT if timed_out else AttemptOutcome.FAILED,
                 attempt_error=error, attempt_traceback=traceback, error=error, error_traceback=traceback)
        logger.warning("job %s attempt %s/%s failed on %s, retry in %.1fs: %s",
                       job.pk, job.attempts, job.max_attempts, job.worker, delay, error)
        return JobStatus.QUEUED
    _end_execution(
        job, target=JobStatus.FAILED, outcome=AttemptOutcome.TIMEOUT if timed_out else AttemptOutcome.FAILED_FINAL,
        attempt_error=error, attempt_traceback=traceback, completed_at=now, error=error, error_traceback=traceback,
        actual_duration=(now - (job.started_at or now)).total_seconds(),
    )
    reporting.finished(job, JobStatus.FAILED, "timeout" if timed_out else reason, error)
    logger.error("job %s failed for good on attempt %s/%s on %s: %s",
                 job.pk, job.attempts, job.max_attempts, job.worker, error)
    return JobStatus.FAILED


def job_fail_hard_timeout(*, job_id: Any, token: Any, limit: float | None) -> str | None:
    """The process running the job was killed at its hard time limit: record the attempt as
    timed out and retry or fail as for any failure. None if the job moved on meanwhile."""
    job = Job.objects.filter(pk=job_id, token=token, status=JobStatus.RUNNING).first()
    if job is None:
        return None
    error = f"timed out: hard time limit of {limit}s exceeded; the process running it was killed"
    return job_fail(job=job, error=error, timed_out=True)


def job_acknowledge_cancel(*, job: Job) -> None:
    """running -> cancelled, once the handler stopped after a cancel request."""
    _end_execution(job, target=JobStatus.CANCELLED, outcome=AttemptOutcome.CANCELLED,
                   attempt_error="cancelled while running", completed_at=timezone.now())
    reporting.finished(job, JobStatus.CANCELLED, "cancelled")
    logger.info("job %s cancelled while running on %s", job.pk, job.worker)


def job_release(*, job: Job, reason: str, outcome: str = AttemptOutcome.INTERRUPTED, delay: float = 0.0) -> None:
    """running -> queued with a new token, published again: the execution gave the job back
    (its worker is shutting down) without the handler having failed."""
    run_at = timezone.now() + timedelta(seconds=delay) if delay else None
    _requeue(job, run_at=run_at, outcome=outcome, attempt_error=reason)
    logger.warning("job %s released back to queued by %s: %s", job.pk, job.worker, reason)
