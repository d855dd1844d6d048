"""Expiry: a queued job that can never run ends failed instead of waiting for ever.

A type's queue_timeout gives each of its jobs a deadline (`expires_at`) to start by. A job
past it fails when a delivery finds it overdue at its claim (`jobs.services.execution`), and
in any case at the sweeper's next pass (`jobs_expire_overdue`), whether or not a message
still carries it.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from jobs.errors import InvalidJobTransition
from jobs.models import Job
from jobs.services import reporting
from jobs.services.gates import admit_on_commit
from jobs.services.transitions import _transition
from jobs.states import JobStatus
from telemetry import logs

logger = logging.getLogger("conveyor.jobs")


def job_expire(*, job_id: Any, reason: str) -> None:
    """queued -> failed: the job can never run (its type is gone, it waited too long)."""
    now = timezone.now()
    with transaction.atomic():
        _transition(job_id, target=JobStatus.FAILED, sources=frozenset({JobStatus.QUEUED}), completed_at=now,
                    error=reason, dispatched_at=None)
        reporting.finished_by_id(job_id, JobStatus.FAILED, "expired", reason)
        admit_on_commit(Job.objects.filter(pk=job_id).values_list("gate", flat=True).first())
    with logs.job_bound(str(job_id)):
        logger.error("job %s expired while queued: %s", job_id, reason)


def job_expire_if_overdue(*, job_id: Any, token: Any, now: datetime) -> None:
    """A claim that missed because the job waited past its queue timeout fails the job (this
    message's job only: `token` must still be the row's)."""
    overdue = Job.objects.filter(pk=job_id, token=token, status=JobStatus.QUEUED, expires_at__lte=now)
    expires_at = overdue.values_list("expires_at", flat=True).first()
    if expires_at is not None:
        try:
            job_expire(job_id=job_id, reason=queue_timeout_reason(expires_at))
        except InvalidJobTransition:
            pass  # started or cancelled meanwhile


def queue_timeout_reason(expires_at: datetime) -> str:
    """The error of a job that was not started by its queue-wait deadline."""
    return f"queue timeout: not started by {expires_at.isoformat()}, the deadline of its queue-wait timeout"


def jobs_expire_overdue(*, now: datetime, limit: int = 1000) -> int:
    """Fail the queued jobs past their queue-wait deadline, `limit` of them per call; returns
    how many failed."""
    overdue = Job.objects.filter(status=JobStatus.QUEUED, expires_at__lte=now).values_list("pk", "expires_at")[:limit]
    expired = 0
    for job_id, expires_at in list(overdue):
        assert expires_at is not None  # the filter's expires_at__lte
        try:
            job_expire(job_id=job_id, reason=queue_timeout_reason(expires_at))
        except InvalidJobTransition:
            continue  # started or cancelled meanwhile
        expired += 1
    return expired
