"""What the services tell the world about a job's life: the platform's metrics
(`telemetry.metrics`) and, after the commit, the signals other apps act on (`jobs.signals`).

The phases call these where the event happens (a transition made, an attempt closed), and
what they record takes effect when the transaction commits (at once outside one): a change
that was rolled back is neither counted nor announced, and an ending that a worker retries
after its commit failed (a database outage) is counted once. Recording a metric is an
in-memory addition (`telemetry.recorder`); receivers of the signals never see a change that
was rolled back.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from django.db import connection, transaction

from handlers.registry import get_handler
from jobs import signals
from jobs.errors import JobValidationError, PayloadTooLarge, QuotaExceeded, UnknownJobType
from jobs.models import Job
from jobs.states import AttemptOutcome, JobStatus
from telemetry import metrics

P = ParamSpec("P")
T = TypeVar("T")


class WhenCommitted:
    """What a service reports, run once its transaction commits; a class of its own so that a
    test capturing a transaction's callbacks can tell these from the publishes."""

    def __init__(self, report: Callable[[], None]) -> None:
        self.report = report

    def __call__(self) -> None:
        self.report()


def _when_committed(report: Callable[[], None]) -> None:
    if connection.in_atomic_block:
        transaction.on_commit(WhenCommitted(report))
    else:
        report()


def created(job_type: str, queue: str, count: int = 1) -> None:
    _when_committed(lambda: metrics.JOBS_CREATED.inc(count, queue=queue, type=job_type))


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
    queue, job_type, started_at = job.queue, job.type, job.started_at

    def report() -> None:
        metrics.ATTEMPTS.inc(queue=queue, type=job_type, outcome=str(outcome))
        if started_at is not None and outcome != AttemptOutcome.LOST:
            # a lost execution's end is unknown: the rescuer only saw its heartbeat stop
            metrics.RUN_TIME.observe(max(0.0, (now - started_at).total_seconds()), queue=queue, type=job_type)

    _when_committed(report)


def finished(job: Job, status: str, reason: str, error: str = "") -> None:
    """The job reached a final status; a failure is announced (`jobs.signals.job_failed`)."""
    facts = _facts(job)

    def report() -> None:
        metrics.JOBS_FINISHED.inc(queue=facts["queue"], type=facts["job_type"], status=str(status), reason=reason)
        if status == JobStatus.FAILED:
            signals.job_failed.send_robust(sender=Job, error=error, reason=reason, **facts)

    _when_committed(report)


def finished_by_id(job_id: Any, status: str, reason: str, error: str = "") -> None:
    """`finished` for a job the caller holds only by id (expiry, a cancel)."""
    job = Job.objects.filter(pk=job_id).only(
        "id", "type", "queue", "organization_id", "project_id", "attempts").first()
    if job is not None:
        finished(job, status, reason, error)


def rescued(job: Job, status: str) -> None:
    """The rescuer took a running job back from a worker that stopped heartbeating."""
    facts = _facts(job)
    rescues = job.rescues + 1

    def report() -> None:
        metrics.RESCUES.inc(queue=facts["queue"], type=facts["job_type"])
        signals.job_rescued.send_robust(sender=Job, rescues=rescues, status=status, **facts)

    _when_committed(report)


def republished(queue: str, reason: str, count: int = 1) -> None:
    """The sweeper published queued jobs: `held` ones (kept in the database until due, or after
    a publish failed) or `lost` ones (their message was passed over)."""
    _when_committed(lambda: metrics.REPUBLISHES.inc(count, queue=queue, reason=reason))


def _facts(job: Job) -> dict[str, Any]:
    return {"job_id": str(job.pk), "job_type": job.type, "queue": job.queue,
            "organization_id": job.organization_id, "project_id": job.project_id, "attempts": job.attempts}
