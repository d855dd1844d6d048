"""One execution of a job on a worker.

1. A job of a limited type comes with its room in the limit already held (`jobs.gates`
   admitted it); a type with a rate limit still takes its start from the rate's log, and a
   start that does not fit sends the job back to wait, no attempt spent.
2. Claim the job with its token; a stale or duplicate message claims nothing, touches nothing
   and returns.
3. Run the handler with a JobContext while a thread heartbeats the row and watches for a
   cancel; a handler that ignores a cancel is interrupted, then terminated.
4. Record the outcome through the services: completed, failed or requeued with backoff,
   cancelled, timed out, or released back to queued when the worker is shutting down.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
import time
import traceback as tb
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection

from handlers.context import JobContext
from handlers.errors import JobCancelled, JobInterrupted, PermanentError, RetryableError
from handlers.registry import HandlerSpec, get_handler
from jobs import gates, marks, outage, services
from jobs.errors import InvalidJobTransition
from jobs.models import Job
from jobs.results import DeliveryResult

logger = logging.getLogger("conveyor.worker")

# The job this process is running right now, and why it is being interrupted, for SIGUSR2.
current_job: Job | None = None
pending_interrupt: str | None = None

def _on_interrupt_signal(signum: int, frame: Any) -> None:
    if current_job is not None:
        raise JobInterrupted(pending_interrupt or JobInterrupted.SHUTDOWN)


def install_interrupt_handler() -> None:
    """SIGUSR2 raises JobInterrupted in the handler running in this process's main thread."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGUSR2, _on_interrupt_signal)


class _Channel:
    """The context's link to the Job row. Progress is best effort: a database blip must not
    cost the handler its attempt."""

    def __init__(self, job: Job) -> None:
        self.job = job

    def write_progress(self, percent: int, message: str) -> bool:
        try:
            live = services.job_heartbeat(job=self.job, progress=percent, message=message)
        except outage.DATABASE_ERRORS as exc:  # one line per outage, not one per write
            outage.unavailable(self.job.pk, "to store its progress", exc)
            return False
        outage.reachable(self.job.pk)
        return live.cancel_requested

    def cancel_requested(self) -> bool:
        try:
            requested = services.job_cancel_requested(job=self.job)
        except outage.DATABASE_ERRORS as exc:
            outage.unavailable(self.job.pk, "to check for a cancel", exc)
            return False
        outage.reachable(self.job.pk)
        return requested


class _Watched:
    def __init__(self, job: Job, ctx: JobContext) -> None:
        self.job = job
        self.ctx = ctx
        self.cancel_seen_at: float | None = None


class Heartbeat(threading.Thread):
    """One thread per worker process, beating for the job the process runs now.

    Every JOBS_HEARTBEAT_INTERVAL: bump heartbeat_at and enforce a cancel (flag it for the
    handler, interrupt the handler after JOBS_CANCEL_GRACE, and terminate the pool process
    after twice that); and write how far this process has taken each queue (`jobs.marks`).
    One long-lived thread rather than one per job: starting and joining a thread per job
    cost more than the job's SQL.
    """

    _instance: Heartbeat | None = None
    _instance_pid: int | None = None

    def __init__(self) -> None:
        super().__init__(name="conveyor-heartbeat", daemon=True)
        self.lock = threading.Lock()
        self.watched: _Watched | None = None

    @classmethod
    def for_this_process(cls) -> Heartbeat:
        # a forked pool process inherits the object but not the thread
        if cls._instance is None or cls._instance_pid != os.getpid():
            cls._instance = cls()
            cls._instance_pid = os.getpid()
            cls._instance.start()
        return cls._instance

    def watch(self, job: Job, ctx: JobContext) -> None:
        with self.lock:
            self.watched = _Watched(job, ctx)

    def unwatch(self) -> None:
        with self.lock:  # waits for a beat under way, so none is sent for a finished job
            self.watched = None

    def run(self) -> None:
        while True:
            time.sleep(settings.JOBS_HEARTBEAT_INTERVAL)
            with self.lock:
                if self.watched is not None:
                    self._beat(self.watched)
            self._flush_marks()
            if self.watched is None:
                connection.close()

    def _flush_marks(self) -> None:
        try:
            marks.flush()
        except Exception as exc:  # kept for the next beat
            logger.debug("delivery marks not written (%s); will try again", exc)
            connection.close()

    def _beat(self, watched: _Watched) -> None:
        job = watched.job
        try:
            live = services.job_heartbeat(job=job)
        except outage.DATABASE_ERRORS as exc:  # one line per job and outage, shared with its other writes
            outage.unavailable(job.pk, "to write its heartbeat (the handler goes on)", exc)
            return
        except Exception:
            logger.exception("job %s: heartbeat failed; will try again", job.pk)
            connection.close()
            return
        outage.reachable(job.pk)
        if not live.owned:
            # The rescuer gave the job to another execution (this one missed heartbeats for
            # JOBS_HEARTBEAT_TIMEOUT): stop the handler, so that the two overlap as little as
            # possible, and its outcome is not recorded.
            logger.warning("job %s: this execution no longer owns the job (rescued); interrupting it", job.pk)
            self.watched = None
            self._interrupt(JobInterrupted.LOST)
        elif live.cancel_requested:
            watched.ctx.cancel_event.set()
            self._enforce_cancel(watched)

    def _enforce_cancel(self, watched: _Watched) -> None:
        now = time.monotonic()
        if watched.cancel_seen_at is None:
            watched.cancel_seen_at = now
            return
        waited = now - watched.cancel_seen_at
        grace = settings.JOBS_CANCEL_GRACE
        job = watched.job
        if waited >= 2 * grace and _in_pool_process():
            logger.error("job %s: handler ignored its cancel for %.0fs; terminating pool process %s",
                         job.pk, waited, os.getpid())
            try:
                services.job_acknowledge_cancel(job=job)
            finally:
                os.kill(os.getpid(), signal.SIGKILL)
        elif waited >= grace and pending_interrupt is None:
            logger.warning("job %s: handler did not stop within %.0fs of its cancel; interrupting it", job.pk, grace)
            self._interrupt(JobInterrupted.CANCEL)

    @staticmethod
    def _interrupt(reason: str) -> None:
        global pending_interrupt
        pending_interrupt = reason
        signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR2)  # type: ignore[arg-type]


def _in_pool_process() -> bool:
    """True in a prefork child, which the worker replaces if it dies; never kill a main process."""
    from billiard import current_process

    return current_process().name != "MainProcess"


@contextmanager
def _running(job: Job) -> Iterator[None]:
    global current_job, pending_interrupt
    current_job, pending_interrupt = job, None
    try:
        yield
    finally:
        current_job, pending_interrupt = None, None


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
        wait = gates.take_start(spec)
        if wait > 0:
            if gates.job_wait_for_rate(job_id=job_id, token=token, wait=wait):
                logger.info("job %s: its rate limit's window is full; waits %.2fs, no attempt spent", job_id, wait)
                return {"job": job_id, "outcome": "waiting", "retryIn": wait}
            return {"job": job_id, "outcome": "skipped"}
    job = services.job_claim(job_id=job_id, token=token, worker=worker)
    if job is None:
        logger.info("job %s: message with token %s claims nothing (stale or duplicate); acked", job_id, token)
        return {"job": job_id, "outcome": "skipped"}
    marks.note_claimed(job.queue, job.priority, job.dispatched_at)
    return _run(job, get_handler(job.type), worker, heartbeat, task_result)


def _run(job: Job, spec: HandlerSpec | None, worker: str, beat: bool,
         task_result: DeliveryResult | None) -> dict[str, Any]:
    if spec is None:
        services.job_fail(job=job, error=f"job type {job.type!r} is not registered on worker {worker}", retry=False)
        return {"job": str(job.pk), "outcome": "failed"}
    if spec.schema is not None:
        from pydantic import ValidationError

        try:
            spec.schema.model_validate(job.input)
        except ValidationError as exc:
            services.job_fail(job=job, error=f"input does not match the schema of {job.type}: {exc}", retry=False)
            return {"job": str(job.pk), "outcome": "failed"}

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
    heartbeat = Heartbeat.for_this_process() if beat else None
    if heartbeat:
        heartbeat.watch(job, ctx)
    fail = partial(services.job_fail, job=job)
    try:
        with _running(job):
            result = spec.func(ctx)
        ctx.flush_progress()
    except JobCancelled:
        name, record = "cancelled", partial(services.job_acknowledge_cancel, job=job)
    except JobInterrupted as stop:
        if stop.reason == JobInterrupted.LOST:
            logger.warning("job %s: interrupted, another execution owns it now; outcome discarded", job.pk)
            return {"job": str(job.pk), "outcome": "discarded"}
        if stop.reason == JobInterrupted.CANCEL:
            name, record = "cancelled", partial(services.job_acknowledge_cancel, job=job)
        else:
            name, record = "released", partial(services.job_release, job=job, reason=f"worker {worker} shut down")
    except SoftTimeLimitExceeded:
        soft = spec.timeout.soft if spec.timeout else None
        name, record = "timeout", partial(fail, error=f"timed out: soft time limit of {soft}s exceeded",
                                          traceback=tb.format_exc(), timed_out=True)
    except PermanentError as exc:
        name, record = "failed", partial(fail, error=_describe(exc), traceback=tb.format_exc(), retry=False)
    except RetryableError as exc:
        name, record = "failed", partial(fail, error=_describe(exc), traceback=tb.format_exc(), delay=exc.delay)
    except Exception as exc:
        name, record = "failed", partial(fail, error=_describe(exc), traceback=tb.format_exc(),
                                         retry=spec.is_retryable(exc))
    else:
        name, record = "completed", partial(services.job_complete, job=job, result=result, task_result=task_result,
                                            summary=_summary(job, "completed"))
    finally:
        if heartbeat:
            heartbeat.unwatch()
    try:
        stored = _with_database_retries(record, job)
    except InvalidJobTransition as exc:
        # rescued or cancelled while this execution ran: its outcome does not count
        logger.warning("job %s: outcome %r discarded: %s", job.pk, name, exc)
        return {"job": str(job.pk), "outcome": "discarded"}
    if stored is True and task_result is not None:
        task_result.mark_stored()
    return _summary(job, name)


def _summary(job: Job, outcome: str) -> dict[str, Any]:
    return {"job": str(job.pk), "outcome": outcome, "attempt": job.attempts}


# How long an outcome waits for the database (probing it with a backoff capped at 2 s, see
# jobs.outage) before the execution gives up: the handler's work is done, and giving up
# means it runs again (the rescuer puts the job back to queued once the database is back),
# so the wait is long, longer than a failover or a restart; it stays well under the
# broker's visibility timeout (an hour), past which Redis would hand the message out again.
_RECORD_WAIT_LIMIT = 300.0


def _with_database_retries(record: Callable[[], Any], job: Job) -> Any:
    """`record()` once the database answers: one warning when the job begins to wait, one
    line when it proceeds; outage.OutcomeNotRecorded after _RECORD_WAIT_LIMIT seconds."""
    return outage.record_when_reachable(record, job.pk, limit=_RECORD_WAIT_LIMIT)


def _describe(exc: BaseException) -> str:
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


class _LogChannel:
    """A system job has no row: progress goes to the worker log."""

    def __init__(self, ident: str, job_type: str) -> None:
        self.ident = ident
        self.job_type = job_type

    def write_progress(self, percent: int, message: str) -> bool:
        logger.info("system job %s [%s] progress %s%% %s", self.ident, self.job_type, percent, message)
        return False

    def cancel_requested(self) -> bool:
        return False


def execute_system(job_type: str, payload: dict[str, Any], task_id: str) -> Any:
    """Run a system job (seed 004): no Job row; the context logs, ids start with system_."""
    spec = get_handler(job_type)
    if spec is None or not spec.system:
        raise PermanentError(f"{job_type!r} is not a registered system job")
    ident = f"system_{task_id}"
    ctx = JobContext(job_id=ident, job_type=job_type, input=payload, attempt=1, max_attempts=1,
                     channel=_LogChannel(ident, job_type), progress_min_interval=0)
    logger.info("system job %s [%s] started", ident, job_type)
    result = spec.func(ctx)
    logger.info("system job %s [%s] done", ident, job_type)
    return result
