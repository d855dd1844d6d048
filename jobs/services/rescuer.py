"""The rescuer: running jobs whose worker died go back to queued, as the periodic task
`jobs.rescue_stale_jobs` asks.

A running job is lost when its heartbeat went stale: `Job.objects.stale(now)`, the very rows
the admin's "stale" filter lists. Each is requeued with a new token (so the dead execution's
outcome, should it ever arrive, changes nothing), cancelled if a cancel was asked, or failed
as a poison pill when it loses its worker again after JOBS_MAX_RESCUES rescues.
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from handlers.registry import get_handler
from jobs import publishing
from jobs.conf import conf
from jobs.errors import InvalidJobTransition
from jobs.models import Job, stale_q
from jobs.services import reporting
from jobs.services.gates import admit_on_commit
from jobs.services.transitions import _expiry, _finish_attempt, _transition
from jobs.states import AttemptOutcome, JobStatus
from telemetry import logs

logger = logging.getLogger("conveyor.jobs")

_FROM_RUNNING = frozenset({JobStatus.RUNNING})


def job_rescue(*, job_id: Any, token: Any, now: datetime | None = None) -> str | None:
    """A running job that is stale (`Job.objects.stale(now)`) lost its worker: back to
    queued with a new token (or cancelled, if a cancel was asked; or failed, past the rescue
    cap, as a poison pill). Returns the new status, or None if the job moved on meanwhile."""
    now = now or timezone.now()
    job = Job.objects.filter(pk=job_id, status=JobStatus.RUNNING, token=token).first()
    if job is None:
        return None
    with logs.job_bound(str(job.pk), job_type=job.type, attempt=job.attempts, queue=job.queue, worker=job.worker):
        return _rescue(job, token, now)


def _rescue(job: Job, token: Any, now: datetime) -> str | None:
    guard = Q(token=token) & stale_q(now)
    lost = f"worker {job.worker or '?'} stopped heartbeating during attempt {job.attempts}"
    try:
        with transaction.atomic():
            status = _rescued(job, guard, now, lost)
            _finish_attempt(job, AttemptOutcome.LOST, lost)
            reporting.rescued(job, status)
            admit_on_commit(job.gate)
    except InvalidJobTransition:
        return None  # it heartbeated or finished between our read and our write
    logger.warning("job %s rescued -> %s: %s", job.pk, status, lost)
    return status


def _rescued(job: Job, guard: Q, now: datetime, lost: str) -> str:
    """The rescue's transition; returns the status the job took."""
    if job.cancel_requested_at is not None:
        _transition(job.pk, target=JobStatus.CANCELLED, sources=_FROM_RUNNING, guard=guard,
                    completed_at=now, heartbeat_at=None)
        reporting.finished(job, JobStatus.CANCELLED, "cancelled")
        return JobStatus.CANCELLED
    if job.rescues >= conf.max_rescues:
        error = f"poison pill: the job lost its worker {job.rescues + 1} times; last: {lost}"
        _transition(job.pk, target=JobStatus.FAILED, sources=_FROM_RUNNING, guard=guard,
                    completed_at=now, heartbeat_at=None, error=error)
        reporting.finished(job, JobStatus.FAILED, "rescues", error)
        return JobStatus.FAILED
    new_token = uuid.uuid4()
    spec = get_handler(job.type)
    _transition(job.pk, target=JobStatus.QUEUED, sources=_FROM_RUNNING, guard=guard,
                token=new_token, rescues=F("rescues") + 1, run_at=None, queued_at=now,
                dispatched_at=now if job.gate is None else None, heartbeat_at=None,
                expires_at=_expiry(spec, now) if spec is not None else None)
    if job.gate is None:
        publishing.publish_on_commit(job, new_token, None)
    return JobStatus.QUEUED


def jobs_rescue_stale(*, limit: int = 500) -> int:
    """The rescuer: requeue the stale running jobs (`Job.objects.stale`), the longest silent
    first; a job that never heartbeated was claimed by a worker that died at once."""
    now = timezone.now()
    stale = list(
        Job.objects.stale(now).order_by(F("heartbeat_at").asc(nulls_first=True)).values_list("pk", "token")[:limit]
    )
    rescued = 0
    for job_id, token in stale:
        if job_rescue(job_id=job_id, token=token, now=now) is not None:
            rescued += 1
    return rescued
