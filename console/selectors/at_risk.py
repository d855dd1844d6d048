"""The at-risk panel: the jobs an operator should look at before they become failures.

    stale       running, and their worker stopped heartbeating (`Job.objects.stale`: what the
                rescuer takes back next)
    overrunning running longer than their type's p99 run time over the last 24 hours (a type
                needs P99_MIN_RUNS runs in that window for its p99 to count)
    rescued     not finished, and taken back from a lost worker more than once
    expired     queued past their queue-wait timeout (expires_at): the sweeper fails them next

Each list is one bounded query (LIMIT + 1, to say "more") served by a partial index: the running
jobs' heartbeat index, the queued expiring index; the rescued list reads the queued and running
rows only.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from functools import reduce
from operator import or_
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from console import conf
from jobs.models import Job
from jobs.states import ACTIVE_STATUSES, JobStatus

_FIELDS = ("id", "type", "queue", "status", "worker", "attempts", "rescues", "created_at", "started_at",
           "heartbeat_at", "expires_at")


def _bounded(queryset: QuerySet[Job], limit: int, since: str) -> dict[str, Any]:
    """At most `limit` jobs of the queryset as plain values, and whether there were more."""
    found = list(queryset.values(*_FIELDS)[: limit + 1])
    return {
        "jobs": [
            {"id": str(row["id"]), "type": row["type"], "queue": row["queue"], "status": row["status"],
             "worker": row["worker"], "attempts": row["attempts"], "rescues": row["rescues"],
             "since": row[since].timestamp() if row[since] is not None else None}
            for row in found[:limit]
        ],
        "more": len(found) > limit,
    }


def at_risk(*, run_p99: dict[str, float], now: datetime | None = None, limit: int | None = None) -> dict[str, Any]:
    """The four lists; `run_p99` is each type's p99 run time in seconds (types without one are
    left out of the overrunning list)."""
    now = now or timezone.now()
    limit = limit or conf.PANEL_LIMIT
    overrunning: dict[str, Any] = {"jobs": [], "more": False}
    if run_p99:
        past = reduce(or_, (Q(type=job_type, started_at__lt=now - timedelta(seconds=p99))
                            for job_type, p99 in sorted(run_p99.items())))
        overrunning = _bounded(Job.objects.filter(status=JobStatus.RUNNING).filter(past).order_by("started_at"),
                               limit, "started_at")
        for job in overrunning["jobs"]:
            job["p99"] = run_p99.get(job["type"])
    return {
        "stale": _bounded(Job.objects.stale(now).order_by("heartbeat_at"), limit, "heartbeat_at"),
        "overrunning": overrunning,
        "rescued": _bounded(Job.objects.filter(status__in=ACTIVE_STATUSES, rescues__gte=2).order_by("-rescues"),
                            limit, "created_at"),
        "expired": _bounded(Job.objects.filter(status=JobStatus.QUEUED, expires_at__lt=now).order_by("expires_at"),
                            limit, "expires_at"),
    }
