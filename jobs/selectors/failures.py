"""Failures grouped by error (`jobs.error_groups`): how many jobs failed with each kind of
error, when first and last, of which types; and the jobs of one group for a bulk action.

The groups are read from `job_failed_group_idx` alone (error group, status, type, completed_at
of the jobs whose last attempt failed): one index-only scan, whatever the size of the table.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, Max, Min, QuerySet

from jobs.error_groups import normalised
from jobs.models import Job
from jobs.states import JobStatus


@dataclass
class FailureGroup:
    """One kind of error: `label` is its normalised first line, `sample` a job of the group."""

    key: str
    count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    types: dict[str, int] = field(default_factory=dict)
    label: str = ""
    sample_id: Any = None
    sample_error: str = ""
    # jobs queued for a retry after this same error (a cancel stops them)
    retrying: int = 0


def failure_groups(*, since: datetime | None = None, limit: int = 50) -> list[FailureGroup]:
    """The groups of failed jobs (finished since `since`, when given), largest first."""
    failed = Job.objects.filter(status=JobStatus.FAILED).exclude(error_group="")
    if since is not None:
        failed = failed.filter(completed_at__gte=since)
    rows = (failed.order_by().values("error_group", "type")
            .annotate(count=Count("*"), first=Min("completed_at"), last=Max("completed_at")))
    groups: dict[str, FailureGroup] = defaultdict(lambda: FailureGroup(key=""))
    for row in rows:
        group = groups[row["error_group"]]
        group.key = row["error_group"]
        group.count += row["count"]
        group.types[row["type"]] = row["count"]
        group.first_seen = min(filter(None, [group.first_seen, row["first"]]), default=None)
        group.last_seen = max(filter(None, [group.last_seen, row["last"]]), default=None)
    ranked = sorted(groups.values(), key=lambda g: (-g.count, g.key))[:limit]
    for group in ranked:
        newest_type = max(group.types, key=lambda t: group.types[t])
        sample = (failed.filter(error_group=group.key, type=newest_type).order_by()
                  .values_list("pk", "error").first())
        if sample is not None:
            group.sample_id, group.sample_error = sample[0], sample[1].splitlines()[0] if sample[1] else ""
            group.label = normalised(sample[1])
    retrying = failure_group_retrying(keys=[group.key for group in ranked])
    for group in ranked:
        group.retrying = retrying.get(group.key, 0)
    return ranked


def failure_group_jobs(*, key: str, statuses: tuple[str, ...] = (JobStatus.FAILED,)) -> QuerySet[Job]:
    """The jobs of one group in these statuses: failed ones (to retry), or queued ones waiting
    for a retry after the same error (to cancel)."""
    return Job.objects.filter(error_group=key, status__in=statuses)


def failure_group_retrying(*, keys: list[str]) -> dict[str, int]:
    """How many queued jobs wait for a retry after each group's error."""
    rows = (Job.objects.filter(status=JobStatus.QUEUED, error_group__in=keys).order_by()
            .values("error_group").annotate(count=Count("*")))
    return {row["error_group"]: row["count"] for row in rows}
