"""What the end of a handler means for its job (an `Ending`), and the one service verb that
records it.

    outcome    when                                                  recorded by
    completed  the handler returned                                  services.job_complete
    failed     it raised: PermanentError (no retry), RetryableError  services.job_fail
               (retried after its delay), anything else (retried
               unless the type's retry_on/never_retry_on say no)
    timeout    its soft time limit passed (retried like a failure)   services.job_fail(timed_out=True)
    cancelled  JobCancelled, or interrupted after it ignored a       services.job_acknowledge_cancel
               cancel for JOBS_CANCEL_GRACE
    released   interrupted by its worker's shutdown                  services.job_release
    discarded  interrupted: the rescuer gave the job to another      nothing: it does not count
               execution

A hard time limit kills the process running the handler: `jobs.tasks.RunJobTask.on_failure`
records it in the worker's main process with services.job_fail_hard_timeout.
"""
from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded

from handlers.errors import JobCancelled, JobInterrupted, PermanentError, RetryableError
from handlers.registry import HandlerSpec
from jobs import services
from jobs.models import Job
from jobs.storage.result_backend import DeliveryResult

logger = logging.getLogger("conveyor.worker")


@dataclass(frozen=True)
class Ending:
    """How a handler's run ended: the outcome's name (as the delivery's summary reports it) and
    the call of its service verb (None: nothing to record)."""

    name: str
    record: Callable[[], Any] | None


def summary(job: Job, outcome: str) -> dict[str, Any]:
    """What run_job returns (the Celery result) for an outcome of `job`."""
    return {"job": str(job.pk), "outcome": outcome, "attempt": job.attempts}


def completed(job: Job, result: Any, task_result: DeliveryResult | None) -> Ending:
    return Ending("completed", partial(services.job_complete, job=job, result=result, task_result=task_result,
                                        summary=summary(job, "completed")))


def of_exception(job: Job, spec: HandlerSpec, worker: str, exc: BaseException) -> Ending:
    """The outcome of a handler that raised `exc` (a JobInterrupted included)."""
    if isinstance(exc, JobCancelled):
        return Ending("cancelled", partial(services.job_acknowledge_cancel, job=job))
    if isinstance(exc, JobInterrupted):
        return _interrupted(job, worker, exc)
    fail = partial(services.job_fail, job=job, traceback=_traceback(exc))
    if isinstance(exc, SoftTimeLimitExceeded):
        soft = spec.timeout.soft if spec.timeout else None
        return Ending("timeout", partial(fail, error=f"timed out: soft time limit of {soft}s exceeded",
                                          timed_out=True))
    if isinstance(exc, PermanentError):
        return Ending("failed", partial(fail, error=describe(exc), retry=False))
    if isinstance(exc, RetryableError):
        return Ending("failed", partial(fail, error=describe(exc), delay=exc.delay))
    return Ending("failed", partial(fail, error=describe(exc), retry=spec.is_retryable(exc)))


def _interrupted(job: Job, worker: str, stop: JobInterrupted) -> Ending:
    if stop.reason == JobInterrupted.LOST:
        logger.warning("job %s: interrupted, another execution owns it now; outcome discarded", job.pk)
        return Ending("discarded", None)
    if stop.reason == JobInterrupted.CANCEL:
        return Ending("cancelled", partial(services.job_acknowledge_cancel, job=job))
    return Ending("released", partial(services.job_release, job=job, reason=f"worker {worker} shut down"))


def describe(exc: BaseException) -> str:
    """An exception as one line: its class, and its message if it has one."""
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _traceback(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))
