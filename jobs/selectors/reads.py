"""Reads of single jobs and of filtered job sets for the admin, the management commands and
the API: a job by id, the filtered queryset behind every list, the per-status figures, a job's
attempts, the jobs a bulk action would touch, and the jobs a quota counts.

Writes live in `jobs.services`; this package never changes a row. Each selector is
keyword-only, validates what a user could have typed (a job id, a status name, an ordering) and
raises a `jobs.errors` exception naming the bad value, so every adapter reports the same
message.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from django.db.models import Count, QuerySet

from jobs.errors import JobNotFound, JobValidationError
from jobs.models import Job, JobAttempt
from jobs.selectors.access import JOB_RELATED, actionable_jobs, is_person, memberships_of, visible_jobs
from jobs.states import ACTION_FROM, JobStatus, parse_status

# Orderings a caller may ask for; anything else would let a user sort on an unindexed column
# of a very large table (or on a relation's private fields).
ORDERABLE_FIELDS: frozenset[str] = frozenset(
    {"created_at", "updated_at", "started_at", "completed_at", "run_at", "priority", "status", "type"}
)
MAX_LIST_LIMIT = 1000

class _Unscoped:
    """The default of `visible_to`: no scoping (commands, admin). Not None, so that a missing
    user can never be mistaken for "everyone"."""

    def __repr__(self) -> str:
        return "UNSCOPED"


UNSCOPED: Any = _Unscoped()


def parse_job_id(job_id: Any) -> uuid.UUID:
    """A job id typed by a user (string or UUID) as a UUID; JobValidationError if malformed."""
    if isinstance(job_id, uuid.UUID):
        return job_id
    try:
        return uuid.UUID(str(job_id).strip())
    except (ValueError, AttributeError, TypeError):
        raise JobValidationError(
            "id", f"{job_id!r} is not a valid job id (expected a UUID such as 3f2b9c1e-...)"
        ) from None


def job_get(*, job_id: Any, visible_to: Any = UNSCOPED) -> Job:
    """The job with this id, its creator, organization and project loaded.

    Raises JobValidationError (field "id") for a malformed id, JobNotFound for an unknown one
    and, with `visible_to=user`, for one that user may not see (someone else's job is not
    found, never forbidden).
    """
    pk = parse_job_id(job_id)
    base = Job.objects.select_related(*JOB_RELATED) if visible_to is UNSCOPED else visible_jobs(user=visible_to)
    job = base.filter(pk=pk).first()
    if job is None:
        raise JobNotFound(pk)
    return job


def _statuses(values: Iterable[str]) -> list[str]:
    parsed = []
    for raw in values:
        try:
            parsed.append(parse_status(raw))
        except ValueError as exc:
            raise JobValidationError("status", str(exc)) from None
    return parsed


def job_queryset(
    *,
    statuses: Iterable[str] | None = None,
    types: Iterable[str] | None = None,
    created_by: Any = None,
    organization: Any = None,
    project: Any = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    visible_to: Any = UNSCOPED,
    memberships: dict[int, str] | None = None,
) -> QuerySet[Job]:
    """The filtered, unordered, unsliced queryset behind `job_list` (for callers that paginate
    themselves). Status names go through `parse_status`, so aliases (pending, finished...) and any case work.
    With `visible_to=user`, only the jobs that user may see (`visible_jobs`; pass the user's
    `memberships` to save their query)."""
    return filter_jobs(
        _scoped(visible_to=visible_to, organization=organization, memberships=memberships),
        statuses=statuses, types=types, created_by=created_by, organization=organization, project=project,
        created_after=created_after, created_before=created_before,
    )


def _scoped(*, visible_to: Any, organization: Any, memberships: dict[int, str] | None) -> QuerySet[Job]:
    """The jobs `visible_to` may see, before the filters. Asked about one organization the
    user belongs to, that is every job of it: the visibility condition (created by the user OR
    in one of their organizations) is then true for each row the organization filter keeps,
    and leaving it out lets PostgreSQL read the organization's index alone (counting it
    without visiting the table)."""
    if visible_to is UNSCOPED or member_asking_about_own_org(visible_to, organization, memberships):
        return Job.objects.select_related(*JOB_RELATED)
    return visible_jobs(user=visible_to, memberships=memberships)


def member_asking_about_own_org(user: Any, organization: Any, memberships: dict[int, str] | None) -> bool:
    """Whether `user`, not staff, filters on an organization they belong to: every job the
    filter keeps is then one they may see, and the visibility condition can be left out."""
    if organization is None or not is_person(user) or user.is_staff:
        return False
    if memberships is None:
        memberships = memberships_of(user=user)
    return getattr(organization, "pk", organization) in memberships


def filter_jobs(
    qs: QuerySet[Job],
    *,
    statuses: Iterable[str] | None = None,
    types: Iterable[str] | None = None,
    created_by: Any = None,
    organization: Any = None,
    project: Any = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> QuerySet[Job]:
    # one name passed where a list was meant would otherwise be read letter by letter
    if isinstance(statuses, str):
        statuses = [statuses]
    if isinstance(types, str):
        types = [types]
    if statuses:
        qs = qs.filter(status__in=_statuses(statuses))
    if types:
        qs = qs.filter(type__in=list(types))
    # model instances and primary keys are both accepted: Django compares either to the FK
    if created_by is not None:
        qs = qs.filter(created_by=created_by)
    if organization is not None:
        qs = qs.filter(organization=organization)
    if project is not None:
        qs = qs.filter(project=project)
    if created_after is not None:
        qs = qs.filter(created_at__gte=created_after)
    if created_before is not None:
        qs = qs.filter(created_at__lt=created_before)
    return qs


def job_stats(
    *,
    project: Any = None,
    organization: Any = None,
    created_by: Any = None,
    visible_to: Any = UNSCOPED,
    memberships: dict[int, str] | None = None,
) -> dict[str, int]:
    """How many jobs there are, in all and per status (with `visible_to=user`, only the jobs
    that user may see are counted); exact, in one query.

    One row per status (GROUP BY status), COUNT(*) rather than COUNT(id): on PostgreSQL the
    organization and project indexes carry the status, so an organization's or a project's
    figures are read from its index alone, without visiting the table.

    Keys: total, queued, running, completed, failed, cancelled.
    """
    qs = job_queryset(created_by=created_by, organization=organization, project=project, visible_to=visible_to,
                      memberships=memberships)
    per_status = {row["status"]: row["n"] for row in qs.order_by().values("status").annotate(n=Count("*"))}
    counts = {status: int(per_status.get(status, 0)) for status in JobStatus.values}
    return {"total": sum(counts.values()), **counts}


def job_attempts(*, job: Job | Any) -> list[JobAttempt]:
    """The job's execution attempts, first to last (a Job or its id)."""
    job_id = job.pk if isinstance(job, Job) else parse_job_id(job)
    return list(JobAttempt.objects.filter(job_id=job_id).order_by("number"))


def job_ids_for_action(
    *,
    user: Any,
    action: Literal["cancel", "retry"],
    limit: int,
    memberships: dict[int, str] | None = None,
    **filters: Any,
) -> tuple[list[uuid.UUID], bool]:
    """The ids of the jobs matching `filters` (those of `job_queryset`) that the user may act
    on and that are in a status the action starts from, oldest first, at most `limit`; and
    whether more matched."""
    if action not in ACTION_FROM:
        raise JobValidationError("action", f"must be one of {', '.join(ACTION_FROM)}, got {action!r}")
    qs = filter_jobs(actionable_jobs(user=user, memberships=memberships), **filters)
    # sorted: a frozenset's order changes between processes, and the statement should not
    qs = qs.filter(status__in=sorted(ACTION_FROM[action])).order_by("created_at", "pk")
    ids = list(qs.values_list("pk", flat=True)[: limit + 1])
    return ids[:limit], len(ids) > limit


def jobs_in_quota_scope(*, user: Any, organization: Any = None) -> QuerySet[Job]:
    """The jobs a quota counts: created by the user, in that organization (or in none)."""
    jobs = Job.objects.filter(created_by=user)
    if organization is None:
        return jobs.filter(organization__isnull=True)
    return jobs.filter(organization=organization)
