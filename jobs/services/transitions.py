"""The one place a job's status changes: an UPDATE guarded by the statuses the target may be
entered from (`jobs.states.ALLOWED_FROM`) and, for a running job, by its execution's token.
No row changed means the rule was broken, and `InvalidJobTransition` says which job, which
status and which target.

The helpers every phase shares live here too: closing an attempt's row, and a queued job's
queue-wait deadline.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from jobs.error_groups import error_group
from jobs.errors import InvalidJobTransition, JobNotFound
from jobs.models import Job, JobAttempt
from jobs.services import reporting
from jobs.states import ALLOWED_FROM

# the reason a write by an execution that lost its job gives
_NOT_OWNED = "this execution no longer owns the job"


def _transition(
    job_id: Any,
    *,
    target: str,
    sources: frozenset[str] | None = None,
    guard: Q | None = None,
    reason: str = "",
    **changes: Any,
) -> None:
    """Move the job to `target` from any of `sources` (default: every status the table allows)
    with `changes`, in one guarded UPDATE; raise what the miss means otherwise."""
    allowed = ALLOWED_FROM[target]
    sources = allowed if sources is None else sources
    if not sources <= allowed:
        raise AssertionError(f"transition to {target} from {sorted(sources - allowed)} is not in the table")
    query = Job.objects.filter(pk=job_id, status__in=sources)
    if guard is not None:
        query = query.filter(guard)
    now = timezone.now()
    if "error" in changes:  # the job joins its last error's group (failed, or queued for a retry)
        changes["error_group"] = error_group(changes["error"])
    if query.update(status=target, updated_at=now, **changes) == 0:
        raise _explain_miss(job_id, target, reason)


def _explain_miss(job_id: Any, target: str, reason: str = "") -> Exception:
    """JobNotFound, or InvalidJobTransition naming the status the job is in."""
    current = Job.objects.filter(pk=job_id).values_list("status", flat=True).first()
    if current is None:
        return JobNotFound(job_id)
    if reason and current in ALLOWED_FROM[target]:
        return InvalidJobTransition(job_id, current, target, reason)
    return InvalidJobTransition(job_id, current, target)


def _owned(job: Job) -> Q:
    """The guard of every write by an execution: still this execution's token."""
    return Q(token=job.token)


def _finish_attempt(job: Job, outcome: str, error: str = "", traceback: str = "") -> None:
    now = timezone.now()
    JobAttempt.objects.filter(job_id=job.pk, number=job.attempts).update(
        finished_at=now, outcome=outcome, error=error, error_traceback=traceback
    )
    reporting.attempt_ended(job, outcome, now)


def _expiry(spec: Any, due: datetime) -> datetime | None:
    """When a job due at `due` fails unless started (its type's queue_timeout), or None."""
    return due + timedelta(seconds=spec.queue_timeout) if spec.queue_timeout else None

