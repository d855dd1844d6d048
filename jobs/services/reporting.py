"""What the services tell the world about a job's life: the platform's metrics
(`telemetry.metrics`) and, after the commit, the signals other apps act on (`jobs.signals`).

The phases call these at the point where the event is certain (a transition made, an attempt
closed), so that a metric counts what happened, never what was tried. Recording a metric is an
in-memory addition (`telemetry.recorder`); the signals go out only once the transaction
commits, so a receiver never sees a change that was rolled back.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from django.db import transaction

from handlers.registry import get_handler
from jobs import signals
from jobs.errors import JobValidationError, PayloadTooLarge, QuotaExceeded, UnknownJobType
from jobs.models import Job
from jobs.states import AttemptOutcome, JobStatus
from telemetry import metrics

P = ParamSpec("P")
T = TypeVar("T")


def created(job_type: str, queue: str, count: int = 1) -> None:
    metrics.JOBS_CREATED.inc(count, queue=queue, type=job_type)


def deduplicated(job_type: str) -> None:
    metrics.JOBS_DEDUPLICATED.inc(type=job_type)


def _rejection_reason(exc: JobValidationError | QuotaExceeded) -> str:
    if isinstance(exc, QuotaExceeded):
        return "quota"
    if isinstance(exc, PayloadTooLarge):
        return "payload_too_large"
    if isinstance(exc, UnknownJobType):
        return "unknown_type"
    return "invalid_input"


def counts_rejections(create: Callable[P, T]) -> Callable[P, T]:
    """Decorate a keyword-only creation service (`type=`, and `inputs=` for a batch): its
    refusals are counted, one per job asked for."""

    @wraps(create)
    def counted(*args: P.args, **kwargs: P.kwargs) -> T:
        inputs = kwargs.get("inputs")
        with counting_rejections(kwargs.get("type"), len(inputs) if isinstance(inputs, list) and inputs else 1):
            return create(*args, **kwargs)

    return counted


@contextmanager
def counting_rejections(job_type: Any, count: int = 1) -> Iterator[None]:
    """Count a creation refused inside the block (by its reason), once however deeply the
    refusing calls nest (a submission wraps a creation)."""
    try:
        yield
    except (JobValidationError, QuotaExceeded) as exc:
        if not getattr(exc, "_counted", False):
            exc._counted = True  # type: ignore[union-attr]
            # a type nobody registered is user input: it must not become a label value
            label = job_type if isinstance(job_type, str) and get_handler(job_type) is not None else ""
            metrics.JOBS_REJECTED.inc(count, type=label, reason=_rejection_reason(exc))
        raise


def claimed(job: Job, now: datetime) -> None:
    """An execution took the job: how long it waited since it was due (its run_at, or when it
    was queued), not since it was created."""
    due = max(job.queued_at or now, job.run_at or job.queued_at or now)
    metrics.QUEUE_WAIT.observe(max(0.0, (now - due).total_seconds()), queue=job.queue, type=job.type)


def attempt_ended(job: Job, outcome: str, now: datetime) -> None:
    metrics.ATTEMPTS.inc(queue=job.queue, type=job.type, outcome=str(outcome))
    if job.started_at is not None and outcome != AttemptOutcome.LOST:
        # a lost execution's end is unknown: the rescuer only saw its heartbeat stop
        metrics.RUN_TIME.observe(max(0.0, (now - job.started_at).total_seconds()), queue=job.queue, type=job.type)


def finished(job: Job, status: str, reason: str, error: str = "") -> None:
    """The job reached a final status; a failure is announced after the commit."""
    metrics.JOBS_FINISHED.inc(queue=job.queue, type=job.type, status=str(status), reason=reason)
    if status == JobStatus.FAILED:
        facts = _facts(job)
        transaction.on_commit(lambda: signals.job_failed.send_robust(
            sender=Job, error=error, reason=reason, **facts))


def finished_by_id(job_id: Any, status: str, reason: str, error: str = "") -> None:
    """`finished` for a job the caller holds only by id (expiry, a cancel)."""
    job = Job.objects.filter(pk=job_id).only(
        "id", "type", "queue", "organization_id", "project_id", "attempts").first()
    if job is not None:
        finished(job, status, reason, error)


def rescued(job: Job, status: str) -> None:
    """The rescuer took a running job back from a worker that stopped heartbeating."""
    metrics.RESCUES.inc(queue=job.queue, type=job.type)
    facts = _facts(job)
    rescues = job.rescues + 1
    transaction.on_commit(lambda: signals.job_rescued.send_robust(sender=Job, rescues=rescues, status=status,
                                                                  **facts))


def republished(queue: str, count: int = 1) -> None:
    metrics.REPUBLISHES.inc(count, queue=queue)


def publish_failed(queue: str, count: int = 1) -> None:
    metrics.PUBLISH_ERRORS.inc(count, queue=queue)


def _facts(job: Job) -> dict[str, Any]:
    return {"job_id": str(job.pk), "job_type": job.type, "queue": job.queue,
            "organization_id": job.organization_id, "project_id": job.project_id, "attempts": job.attempts}
