"""The backlog at a glance: per queue and type, what waits, what runs and for how long. One
GROUP BY over the queued and running rows (the partial indexes keep the finished millions out
of it), read by /metrics through a shared cache, never per viewer."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, DateTimeField, Min, Q
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from jobs.models import Job, stale_q
from jobs.states import JobStatus


@dataclass(frozen=True)
class BacklogRow:
    queue: str
    type: str
    queued_due: int
    queued_delayed: int
    running: int
    stale: int
    # seconds: the oldest due job's wait since it was due, the longest running job's run
    oldest_due_age: float
    longest_running_age: float


def backlog(*, now: datetime | None = None) -> list[BacklogRow]:
    """One row per (queue, type) with a queued or running job."""
    now = now or timezone.now()
    queued = Q(status=JobStatus.QUEUED)
    due = queued & (Q(run_at__isnull=True) | Q(run_at__lte=now))
    due_since = Greatest(Coalesce("run_at", "queued_at", "created_at"), Coalesce("queued_at", "created_at"),
                         output_field=DateTimeField())
    rows = (
        Job.objects.filter(status__in=(JobStatus.QUEUED, JobStatus.RUNNING))
        .values("queue", "type")
        .annotate(
            queued_due=Count("pk", filter=due),
            queued_delayed=Count("pk", filter=queued & Q(run_at__gt=now)),
            running=Count("pk", filter=Q(status=JobStatus.RUNNING)),
            stale=Count("pk", filter=stale_q(now)),
            oldest_due=Min(due_since, filter=due),
            first_started=Min("started_at", filter=Q(status=JobStatus.RUNNING)),
        )
        .order_by()
    )
    return [
        BacklogRow(
            queue=row["queue"], type=row["type"], queued_due=row["queued_due"], queued_delayed=row["queued_delayed"],
            running=row["running"], stale=row["stale"],
            oldest_due_age=_age(now, row["oldest_due"]), longest_running_age=_age(now, row["first_started"]),
        )
        for row in rows
    ]


def _age(now: datetime, since: datetime | None) -> float:
    return max(0.0, (now - since).total_seconds()) if since is not None else 0.0
