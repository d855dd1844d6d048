"""One execution of a job on a worker.

1. Claim the job with its token; a stale or duplicate message claims nothing and returns.
2. Resolve the handler; a type no longer registered fails the job permanently.
3. Run the handler with a JobContext while a thread heartbeats the row (and notices cancels).
4. Record the outcome through the services: completed, failed or requeued with backoff,
   cancelled, or released back to queued when the worker is shutting down.
"""
from __future__ import annotations

import logging
import threading
import traceback as tb
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

from handlers.context import JobContext
from handlers.errors import JobCancelled, PermanentError, RetryableError, WorkerStopping
from handlers.registry import get_handler
from jobs import services
from jobs.errors import InvalidJobTransition
from jobs.models import Job

logger = logging.getLogger("conveyor.worker")

# The job this process is running right now, for the shutdown signal handler.
current_job: Job | None = None


class _Channel:
    """The context's link to the Job row."""

    def __init__(self, job: Job) -> None:
        self.job = job

    # Progress is best effort: a database blip must not cost the handler its attempt.

    def write_progress(self, percent: int, message: str) -> bool:
        try:
            return services.job_heartbeat(job=self.job, progress=percent, message=message).cancel_requested
        except (OperationalError, InterfaceError) as exc:
            logger.warning("job %s: progress not stored, database unavailable (%s)", self.job.pk, exc)
            connection.close()
            return False

    def cancel_requested(self) -> bool:
        try:
            return services.job_cancel_requested(job=self.job)
        except (OperationalError, InterfaceError):
            connection.close()
            return False


class Heartbeat(threading.Thread):
    """Bumps heartbeat_at every JOBS_HEARTBEAT_INTERVAL; flags a cancel request on the context."""

    def __init__(self, job: Job, ctx: JobContext) -> None:
        super().__init__(name=f"heartbeat-{job.pk}", daemon=True)
        self.job = job
        self.ctx = ctx
        self.stopped = threading.Event()
        self.lost = False

    def run(self) -> None:
        try:
            while not self.stopped.wait(settings.JOBS_HEARTBEAT_INTERVAL):
                try:
                    live = services.job_heartbeat(job=self.job)
                except Exception:
                    logger.exception("job %s: heartbeat failed; will try again", self.job.pk)
                    connection.close()
                    continue
                if live.cancel_requested:
                    self.ctx.cancel_event.set()
                if not live.owned:
                    self.lost = True
                    logger.warning("job %s: this execution no longer owns the job (rescued or cancelled)", self.job.pk)
                    return
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)


@contextmanager
def _running(job: Job) -> Iterator[None]:
    global current_job
    current_job = job
    try:
        yield
    finally:
        current_job = None


def execute(job_id: str, token: str, worker: str) -> dict[str, Any]:
    """Run one delivery of run_job; returns a small summary stored as the Celery result."""
    job = services.job_claim(job_id=job_id, token=token, worker=worker)
    if job is None:
        logger.info("job %s: message with token %s claims nothing (stale or duplicate); acked", job_id, token)
        return {"job": job_id, "outcome": "skipped"}
    job.worker = worker
    spec = get_handler(job.type)
    if spec is None:
        services.job_fail(job=job, error=f"job type {job.type!r} is not registered on worker {worker}", retry=False)
        return {"job": job_id, "outcome": "failed"}

    ctx = JobContext(
        job_id=str(job.pk),
        job_type=job.type,
        input=job.input,
        attempt=job.attempts,
        max_attempts=job.max_attempts,
        channel=_Channel(job),
        progress_min_interval=settings.JOBS_PROGRESS_MIN_INTERVAL,
    )
    logger.info("job %s [%s] attempt %s/%s started on %s", job.pk, job.type, job.attempts, job.max_attempts, worker)
    heartbeat = Heartbeat(job, ctx)
    heartbeat.start()
    try:
        with _running(job):
            result = spec.func(ctx)
        ctx.flush_progress()
    except JobCancelled:
        name, record = "cancelled", partial(services.job_acknowledge_cancel, job=job)
    except WorkerStopping:
        name, record = "released", partial(services.job_release, job=job, reason=f"worker {worker} shut down")
    except PermanentError as exc:
        name, record = "failed", partial(
            services.job_fail, job=job, error=_describe(exc), traceback=tb.format_exc(), retry=False
        )
    except RetryableError as exc:
        name, record = "failed", partial(
            services.job_fail, job=job, error=_describe(exc), traceback=tb.format_exc(), delay=exc.delay
        )
    except Exception as exc:
        name, record = "failed", partial(services.job_fail, job=job, error=_describe(exc), traceback=tb.format_exc())
    else:
        name, record = "completed", partial(services.job_complete, job=job, result=result)
    finally:
        heartbeat.stop()
    try:
        _with_database_retries(record, job)
    except InvalidJobTransition as exc:
        # rescued or cancelled while this execution ran: its outcome does not count
        logger.warning("job %s: outcome %r discarded: %s", job.pk, name, exc)
        return {"job": str(job.pk), "outcome": "discarded"}
    return {"job": str(job.pk), "outcome": name, "attempt": job.attempts}


# How long an outcome waits for the database to come back before the execution gives up
# (and the rescuer, later, puts the job back to queued).
_RECORD_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)


def _with_database_retries(record: Callable[[], Any], job: Job) -> Any:
    for delay in _RECORD_RETRY_DELAYS:
        try:
            return record()
        except (OperationalError, InterfaceError) as exc:
            logger.warning("job %s: database unavailable while recording the outcome (%s); retrying in %.1fs",
                           job.pk, exc, delay)
            connection.close()
            time.sleep(delay)
    return record()


def _describe(exc: BaseException) -> str:
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
