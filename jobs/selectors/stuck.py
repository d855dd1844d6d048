"""Jobs that look stuck, for the admin's filter and for anyone else who asks:

  * stale:     running, and its worker stopped heartbeating - what the rescuer requeues;
  * unclaimed: queued, and nobody claimed it for a while (not one waiting at its gate for
               room in its limit, which is by design) - what the sweeper acts on.

The predicates are the Job queryset's `stale(now)` and `unclaimed(now)` (`jobs.models`), the
very ones the rescuer and the sweeper use: the admin shows exactly the rows recovery acts on.
"""
from __future__ import annotations

from datetime import datetime
from typing import Literal, cast

from django.db.models import QuerySet
from django.utils import timezone

from jobs.errors import JobValidationError
from jobs.models import Job, JobQuerySet, stale_q, unclaimed_q
from jobs.selectors.access import JOB_RELATED

StuckKind = Literal["stale", "unclaimed", "any"]


def stuck_jobs(
    *, kind: StuckKind = "any", queryset: QuerySet[Job] | None = None, now: datetime | None = None
) -> QuerySet[Job]:
    """Jobs that look stuck: `stale` heartbeats, `unclaimed` queued jobs, or `any` of both.

    Narrows `queryset` when given (the admin's changelist, a queryset of `Job.objects`), else
    all jobs.
    """
    base = queryset if queryset is not None else Job.objects.select_related(*JOB_RELATED)
    qs = cast(JobQuerySet, base)  # every Job queryset comes from Job.objects, which has the named states
    if kind == "stale":
        return qs.stale(now)
    if kind == "unclaimed":
        return qs.unclaimed(now)
    if kind == "any":
        now = now or timezone.now()
        return qs.filter(stale_q(now) | unclaimed_q(now))
    raise JobValidationError("stuck", f"must be 'stale', 'unclaimed' or 'any', got {kind!r}")


def stale_running_jobs(*, now: datetime | None = None) -> QuerySet[Job]:
    return stuck_jobs(kind="stale", now=now)


def unclaimed_queued_jobs(*, now: datetime | None = None) -> QuerySet[Job]:
    return stuck_jobs(kind="unclaimed", now=now)
