"""One delivery of run_job on a worker, as a pipeline of named steps.

    rate start -> claim -> input check -> handler -> record the outcome

1. `_take_rate_start`: a job of a limited type comes with its room in the concurrency limit
   already held (the gates admitted it); a type with a rate limit still takes its start from
   the rate's log, and a start that does not fit sends the job back to wait, no attempt spent.
2. `_claim`: claim the job with its token; a stale or duplicate message claims nothing,
   touches nothing and returns.
3. `_checked_handler`: a type this worker does not know, or an input that does not match the
   type's schema, fails the job at once, without a retry.
4. `_run_handler`: run the handler with a JobContext while the heartbeat thread beats for the
   row and watches for a cancel; its return or exception is an `Ending` (`jobs.worker.outcomes`).
5. `_record`: the outcome's one service verb, waiting for the database if it is away; an
   outcome the job moved past meanwhile (rescued, cancelled) is discarded.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from handlers.context import JobContext
from handlers.errors import JobInterrupted
from handlers.registry import HandlerSpec, get_handler
from jobs import services
from jobs.conf import conf
from jobs.errors import InvalidJobTransition
from jobs.models import Job
from jobs.services import gates
from jobs.storage.result_backend import DeliveryResult
from jobs.validation import input_schema_problem
from jobs.worker import interrupt, marks, outage, outcomes
from jobs.worker.heartbeat import Heartbeat
from jobs.worker.link import JobRowLink
from jobs.worker.outcomes import Ending, summary
from telemetry import logs

logger = logging.getLogger("conveyor.worker")

# How long an outcome waits for the database (probing it with a backoff capped at 2 s, see
# jobs.worker.outage) before the execution gives up: the handler's work is done, and giving
# up means it runs again (the rescuer puts the job back to queued once the database is back),
# so the wait is long, longer than a failover or a restart; it stays well under the broker's
# visibility timeout (an hour), past which Redis would hand the message out again.
_RECORD_WAIT_LIMIT = 300.0


def execute(
    job_id: str,
    token: str,
    worker: str,
    *,
    job_type: str | None = None,
    apply_limits: bool = True,
    heartbeat: bool = True,
    task_result: DeliveryResult | None = None,
) -> dict[str, Any]:
    """Run one delivery of run_job; returns a small summary stored as the Celery result
    (by the completion itself when `task_result` is given and the database can)."""
    spec = get_handler(job_type) if job_type else None
    if apply_limits and spec is not None and spec.rate_limit is not None:
        waiting = _take_rate_start(spec, job_id, token)
        if waiting is not None:
            return waiting
    job = _claim(job_id, token, worker)
    if job is None:
        return {"job": job_id, "outcome": "skipped"}
    checked = _checked_handler(job, worker)
    if checked is None:
        return {"job": str(job.pk), "outcome": "failed"}
    ending = _run_handler(job, checked, worker, heartbeat, task_result)
    return _record(job, ending, task_result)


def _take_rate_start(spec: HandlerSpec, job_id: str, token: str) -> dict[str, Any] | None:
    """None when the start fits the type's rate; else the delivery's summary (it waits, or
    the job moved on and the message claims nothing)."""
    wait = gates.take_start(spec)
    if wait <= 0:
        return None
    if gates.job_wait_for_rate(job_id=job_id, token=token, wait=wait):
        logger.info("job %s: its rate limit's window is full; waits %.2fs, no attempt spent", job_id, wait)
        return {"job": job_id, "outcome": "waiting", "retryIn": wait}
    return {"job": job_id, "outcome": "skipped"}


def _claim(job_id: str, token: str, worker: str) -> Job | None:
    job = services.job_claim(job_id=job_id, token=token, worker=worker)
    if job is None:
        logger.info("job %s: message with token %s claims nothing (stale or duplicate); acked", job_id, token)
        return None
    marks.note_claimed(job.queue, job.priority, job.dispatched_at)
    logs.annotate_job(attempt=job.attempts, job_type=job.type, queue=job.queue)  # the log context's attempt
    return job


def _checked_handler(job: Job, worker: str) -> HandlerSpec | None:
    """The job's handler; None when the job failed at once, without a retry: its type is not
    registered on this worker, or its input does not match the type's schema."""
    spec = get_handler(job.type)
    if spec is None:
        services.job_fail(job=job, error=f"job type {job.type!r} is not registered on worker {worker}", retry=False,
                          reason="unregistered")
        return None
    problem = input_schema_problem(spec, job.input)
    if problem is not None:
        services.job_fail(job=job, error=f"input does not match the schema of {job.type}: {problem}", retry=False,
                          reason="invalid_input")
        return None
    return spec


def _run_handler(job: Job, spec: HandlerSpec, worker: str, beat: bool,
                 task_result: DeliveryResult | None) -> Ending:
    ctx = JobContext(
        job_id=str(job.pk),
        job_type=job.type,
        input=job.input,
        attempt=job.attempts,
        max_attempts=job.max_attempts,
        link=JobRowLink(job),
        progress_min_interval=conf.progress_min_interval,
    )
    logger.info("job %s [%s] attempt %s/%s started on %s", job.pk, job.type, job.attempts, job.max_attempts, worker)
    heartbeat = Heartbeat.for_this_process() if beat else None
    if heartbeat:
        heartbeat.watch(job, ctx)
    try:
        with interrupt.running(job):
            result = spec.func(ctx)
        ctx.flush_progress()
    except (Exception, JobInterrupted) as exc:
        return outcomes.of_exception(job, spec, worker, exc)
    finally:
        if heartbeat:
            heartbeat.unwatch()
    return outcomes.completed(job, result, task_result)


def _record(job: Job, ending: Ending, task_result: DeliveryResult | None) -> dict[str, Any]:
    if ending.record is None:
        return {"job": str(job.pk), "outcome": ending.name}
    try:
        stored = _with_database_retries(ending.record, job)
    except InvalidJobTransition as exc:
        # rescued or cancelled while this execution ran: its outcome does not count
        logger.warning("job %s: outcome %r discarded: %s", job.pk, ending.name, exc)
        return {"job": str(job.pk), "outcome": "discarded"}
    if stored is True and task_result is not None:
        task_result.mark_stored()
    return summary(job, ending.name)


def _with_database_retries(record: Callable[[], Any], job: Job) -> Any:
    """`record()` once the database answers: one warning when the job begins to wait, one
    line when it proceeds; outage.OutcomeNotRecorded after _RECORD_WAIT_LIMIT seconds."""
    return outage.record_when_reachable(record, job.pk, limit=_RECORD_WAIT_LIMIT)
