"""What users and operators do to jobs: cancel, retry, one at a time or in bulk.

Which statuses each action starts from is `jobs.states.ACTION_FROM`, the same table the API's
bulk actions and the admin's buttons read.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from audit.actors import Actor
from audit.services import audit_record
from handlers.registry import get_handler
from jobs import publishing
from jobs.errors import ConveyorError, InvalidJobTransition, JobNotFound
from jobs.models import Job
from jobs.selectors import parse_job_id
from jobs.services import permissions, reporting
from jobs.services.gates import admit_on_commit
from jobs.services.transitions import _expiry, _explain_miss, _transition
from jobs.states import ACTION_FROM, ALLOWED_FROM, JobStatus

logger = logging.getLogger("conveyor.jobs")


def _checked(job_id: Any, by: Actor | None, action: str) -> Job:
    job = Job.objects.filter(pk=parse_job_id(job_id)).first()
    if job is None:
        raise JobNotFound(job_id)
    permissions.require(by, action, job)
    return job


def job_cancel(*, job_id: Any, by: Actor | None = None, batch: str = "") -> Job:
    """Cancel a queued job now; ask a running one to stop (it ends cancelled at its next
    progress or check). Any other status raises InvalidJobTransition. `by` is checked and
    recorded in the audit log; `batch` names the bulk action it is part of."""
    job_id = _checked(job_id, by, "cancel").pk
    now = timezone.now()
    detail = {"batch": batch} if batch else None
    try:
        with transaction.atomic():
            _transition(job_id, target=JobStatus.CANCELLED, sources=frozenset({JobStatus.QUEUED}),
                        completed_at=now, cancel_requested_at=now)
            reporting.finished_by_id(job_id, JobStatus.CANCELLED, "cancelled")
            admit_on_commit(Job.objects.filter(pk=job_id).values_list("gate", flat=True).first())
            if by is not None:
                audit_record(by=by, action="cancel", target_kind="job", target_id=job_id, outcome="cancelled",
                             detail=detail)
    except InvalidJobTransition as miss:
        if miss.current != JobStatus.RUNNING:
            raise
        # not a transition yet: the execution acknowledges it (job_acknowledge_cancel)
        with transaction.atomic():
            asked = Job.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(cancel_requested_at=now,
                                                                                   updated_at=now)
            if not asked:
                raise _explain_miss(job_id, JobStatus.CANCELLED) from None
            if by is not None:
                audit_record(by=by, action="cancel", target_kind="job", target_id=job_id,
                             outcome="running: asked to stop", detail=detail)
    logger.info("job %s: cancel requested%s", job_id, f" by {by.label} ({by.source})" if by is not None else "")
    return Job.objects.get(pk=job_id)


def job_retry(*, job_id: Any, by: Actor | None = None, batch: str = "") -> Job:
    """failed or cancelled -> queued, as new: progress 0, error, result and times cleared,
    and a fresh budget of attempts. `by` is checked and recorded in the audit log."""
    job = _checked(job_id, by, "retry")
    job_id = job.pk
    spec = get_handler(job.type)
    if spec is None and job.status in ALLOWED_FROM[JobStatus.QUEUED]:
        raise InvalidJobTransition(job_id, job.status, JobStatus.QUEUED, f"job type {job.type!r} is not registered")
    budget = spec.max_attempts if spec is not None else job.max_attempts
    now = timezone.now()
    token = uuid.uuid4()
    with transaction.atomic():
        _transition(
            job_id, target=JobStatus.QUEUED, sources=ACTION_FROM["retry"], token=token,
            progress=0, progress_message="", result=None, error="", error_traceback="",
            started_at=None, completed_at=None, heartbeat_at=None, cancel_requested_at=None, actual_duration=None,
            run_at=None, queued_at=now, dispatched_at=now if job.gate is None else None, rescues=0,
            max_attempts=F("attempts") + budget, expires_at=_expiry(spec, now) if spec is not None else None,
        )
        if job.gate is None:
            publishing.publish_on_commit(job, token, None)
        admit_on_commit(job.gate)
        if by is not None:
            audit_record(by=by, action="retry", target_kind="job", target_id=job_id, outcome="queued",
                         detail={"batch": batch} if batch else None)
    logger.info("job %s retried by %s", job_id, f"{by.label} ({by.source})" if by is not None else "request")
    return Job.objects.get(pk=job_id)


@dataclass(frozen=True)
class BulkOutcome:
    """What a bulk action did: the jobs it changed, and why each other one was left alone."""

    changed: list[uuid.UUID]
    refused: list[tuple[uuid.UUID, ConveyorError]]


def _each(job_ids: list[Any], action: Callable[..., Any], name: str, by: Actor | None) -> BulkOutcome:
    changed: list[uuid.UUID] = []
    refused: list[tuple[uuid.UUID, ConveyorError]] = []
    batch = uuid.uuid4().hex[:12] if by is not None else ""
    for raw in job_ids:
        job_id = parse_job_id(raw)
        try:
            job = Job.objects.filter(pk=job_id).first() if by is not None else None
            if job is not None:  # a missing one is refused by the action as not found
                permissions.require(by, "bulk", job)
            action(job_id=job_id, by=by, batch=batch)
        except ConveyorError as exc:  # one job's refusal does not stop the others
            refused.append((job_id, exc))
        else:
            changed.append(job_id)
    if by is not None:
        audit_record(by=by, action=f"bulk.{name}", target_kind="jobs", target_id=batch,
                     outcome=f"{len(changed)} changed, {len(refused)} refused",
                     detail={"changed": len(changed), "refused": len(refused),
                             "refusals": [[str(job_id), str(exc)] for job_id, exc in refused[:100]]})
    return BulkOutcome(changed=changed, refused=refused)


def jobs_cancel_bulk(*, job_ids: list[Any], by: Actor | None = None) -> BulkOutcome:
    """`job_cancel` for each job, each in its own transaction (queued ones end cancelled,
    running ones are asked to stop)."""
    return _each(job_ids, job_cancel, "cancel", by)


def jobs_retry_bulk(*, job_ids: list[Any], by: Actor | None = None) -> BulkOutcome:
    """`job_retry` for each job, each in its own transaction."""
    return _each(job_ids, job_retry, "retry", by)
