"""Every read of jobs for the admin, the management commands and the API.

Writes live in `jobs.services`; this module never changes a row. Each selector is keyword-only,
validates what a user could have typed (a job id, a status name, an ordering) and raises a
`jobs.errors` exception naming the bad value, so every adapter reports the same message.

Stuck jobs are defined here once, for the admin's filter and for anyone else who asks:
  * stale:     running, and the heartbeat is older than JOBS_HEARTBEAT_TIMEOUT (or it never
               heartbeated and was last touched before that) - the rescuer's definition;
  * unclaimed: queued and due for longer than JOBS_SWEEP_UNCLAIMED_AFTER, and not waiting at
               its gate for room in its type's limit (that wait is by design) - what the
               sweeper looks into.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from jobs.errors import JobNotFound, JobValidationError
from jobs.models import Job, JobAttempt, Membership, Organization, Project
from jobs.states import JobStatus, parse_status

# Orderings a caller may ask for; anything else would let a user sort on an unindexed column
# of a very large table (or on a relation's private fields).
ORDERABLE_FIELDS: frozenset[str] = frozenset(
    {"created_at", "updated_at", "started_at", "completed_at", "run_at", "priority", "status", "type"}
)
MAX_LIST_LIMIT = 1000

StuckKind = Literal["stale", "unclaimed", "any"]

# what every job read needs for display; fetched in the same query (no N+1)
_RELATED = ("created_by", "organization", "project")


class _Unscoped:
    """The default of `visible_to`: no scoping (commands, admin). Not None, so that a missing
    user can never be mistaken for "everyone"."""

    def __repr__(self) -> str:
        return "UNSCOPED"


UNSCOPED: Any = _Unscoped()


@dataclass(frozen=True)
class JobPage:
    """One page of a job list: the rows, how many match the filters in all, and whether more
    follow this page.

    `total` is exact when `total_is_exact`; otherwise more rows matched than the list's
    `exact_total_max` and `total` is PostgreSQL's estimate, kept within what the page itself
    proves (more than the cap, at least the rows up to the end of this page, and no more than
    `offset` when the page is empty). `has_next` is always exact.
    """

    items: list[Job]
    total: int
    limit: int
    offset: int
    has_next: bool = False
    total_is_exact: bool = True

    def __iter__(self) -> Iterator[Job]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


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
    base = Job.objects.select_related(*_RELATED) if visible_to is UNSCOPED else visible_jobs(user=visible_to)
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
    themselves). Status names go through `parse_status`, so seed aliases and any case work.
    With `visible_to=user`, only the jobs that user may see (`visible_jobs`; pass the user's
    `memberships` to save their query)."""
    return _filtered(
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
    if visible_to is UNSCOPED or _member_asking_about_own_org(visible_to, organization, memberships):
        return Job.objects.select_related(*_RELATED)
    return visible_jobs(user=visible_to, memberships=memberships)


def _member_asking_about_own_org(user: Any, organization: Any, memberships: dict[int, str] | None) -> bool:
    """Whether `user`, not staff, filters on an organization they belong to: every job the
    filter keeps is then one they may see, and the visibility condition can be left out."""
    if organization is None or not _is_person(user) or user.is_staff:
        return False
    if memberships is None:
        memberships = memberships_of(user=user)
    return getattr(organization, "pk", organization) in memberships


def _filtered(
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


def job_list(
    *,
    statuses: Iterable[str] | None = None,
    types: Iterable[str] | None = None,
    created_by: Any = None,
    organization: Any = None,
    project: Any = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    order_by: str = "created_at",
    direction: str = "desc",
    limit: int = 50,
    offset: int = 0,
    visible_to: Any = UNSCOPED,
    memberships: dict[int, str] | None = None,
    exact_total_max: int | None = None,
) -> JobPage:
    """One page of jobs matching every given filter, newest first by default.

    The rows (with creator, organization and project joined) are read with one more than the
    page, so `has_next` is exact and a last page needs no count at all. Otherwise the total is
    counted: exactly when `exact_total_max` is None or 0; else exactly up to `exact_total_max`
    rows (a COUNT over a LIMITed subquery, which stops there), and beyond that it is
    PostgreSQL's row estimate for the filters (`total_is_exact` False). An exact COUNT of a
    million rows takes longer than a page should; above a few thousand, "about 80,000" is what
    a list needs. Databases without an estimate (SQLite) count exactly. A user who is not staff
    sees their own jobs OR their organizations': the two are counted apart, each from one
    index (`_visibility_parts`). At most four queries whatever the page size: rows, capped
    count (two for such a user), estimate. Raises JobValidationError naming the bad argument.
    """
    if order_by not in ORDERABLE_FIELDS:
        choices = ", ".join(sorted(ORDERABLE_FIELDS))
        raise JobValidationError("order_by", f"cannot order by {order_by!r}; choose one of {choices}")
    if direction not in ("asc", "desc"):
        raise JobValidationError("direction", f"must be 'asc' or 'desc', got {direction!r}")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST_LIMIT:
        raise JobValidationError("limit", f"must be an integer from 1 to {MAX_LIST_LIMIT}, got {limit!r}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise JobValidationError("offset", f"must be an integer >= 0, got {offset!r}")
    if memberships is None and visible_to is not UNSCOPED and _is_person(visible_to) and not visible_to.is_staff:
        memberships = memberships_of(user=visible_to)  # once, for the rows and the count
    filters: dict[str, Any] = {"statuses": statuses, "types": types, "created_by": created_by,
                               "organization": organization, "project": project,
                               "created_after": created_after, "created_before": created_before}
    qs = job_queryset(**filters, visible_to=visible_to, memberships=memberships)
    sign = "-" if direction == "desc" else ""
    # the primary key breaks ties so that offsets never skip or repeat a row between pages
    ordered = qs.order_by(f"{sign}{order_by}", f"{sign}pk")
    rows = list(ordered[offset : offset + limit + 1])
    items, has_next = rows[:limit], len(rows) > limit
    if not has_next and (items or offset == 0):
        # the last page (or an empty list): the rows up to its end are all there are
        return JobPage(items=items, total=offset + len(items), limit=limit, offset=offset, has_next=False)
    parts = _visibility_parts(visible_to=visible_to, organization=organization, memberships=memberships)
    if parts is None:  # nothing to split: the list's own query, counted as one part
        base, parts = qs, [Q()]
    else:
        base = _filtered(Job.objects.all(), **filters)
    total, exact = _count(base, parts, whole=qs, cap=exact_total_max)
    if not exact:
        # the estimate may be off either way; never below what this page proves
        floor = (exact_total_max or 0) + 1
        if items:
            floor = max(floor, offset + len(items) + int(has_next))
            total = max(total, floor)
        else:  # past the end: fewer than `offset` rows matched
            total = min(max(total, floor), offset)
    return JobPage(items=items, total=total, limit=limit, offset=offset, has_next=has_next, total_is_exact=exact)


def _visibility_parts(*, visible_to: Any, organization: Any, memberships: dict[int, str] | None) -> list[Q] | None:
    """What `_scoped` lets `visible_to` see, as disjoint conditions that each one index
    answers: the jobs they created, and their organizations' jobs that they did not create.
    None where the scope has no OR to split (no scope, staff, anonymous, or a member asking
    about one of their organizations)."""
    if visible_to is UNSCOPED or not _is_person(visible_to) or visible_to.is_staff:
        return None
    if not memberships or _member_asking_about_own_org(visible_to, organization, memberships):
        return None  # their own jobs only, or all of the organization's: no OR
    return [Q(created_by=visible_to), Q(organization_id__in=sorted(memberships)) & ~Q(created_by=visible_to)]


def _count(base: QuerySet[Job], parts: list[Q], *, whole: QuerySet[Job], cap: int | None) -> tuple[int, bool]:
    """How many rows of `base` the union of the disjoint `parts` holds, and whether that is
    exact: each part counted apart, so that each count reads one index instead of PostgreSQL
    filtering the table for an OR, the later ones only as far as the cap leaves (cap + 1 rows
    in all); beyond the cap, the estimate of `whole` (the same rows), or an exact count where
    there is no estimate."""
    base = base.order_by()
    if not cap:
        return sum(base.filter(part).count() for part in parts), True
    counted = 0
    for part in parts:
        # SELECT COUNT(*) FROM (SELECT ... LIMIT n): PostgreSQL drops the unused column, so an
        # index that serves the filters is read alone, and no further than n entries
        counted += base.filter(part)[: cap + 1 - counted].count()
        if counted > cap:
            break
    if counted <= cap:
        return counted, True
    estimate = estimated_count(whole.order_by())
    if estimate is None:
        return sum(base.filter(part).count() for part in parts), True
    return estimate, False


def estimated_count(qs: QuerySet[Any]) -> int | None:
    """PostgreSQL's estimate of the rows `qs` matches (the planner's row count of its plan,
    from the table statistics that ANALYZE and autovacuum keep), or None on other databases.
    One EXPLAIN: the query is planned, not run."""
    if connections[qs.db].vendor != "postgresql":
        return None
    plan = json.loads(qs.order_by().values("pk").explain(format="json"))
    return max(0, int(plan[0]["Plan"]["Plan Rows"]))


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


# --- stuck jobs ------------------------------------------------------------------------------


def stale_heartbeat_q(*, now: datetime | None = None) -> Q:
    """Running jobs whose worker stopped heartbeating (what the rescuer will requeue)."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.JOBS_HEARTBEAT_TIMEOUT)
    return Q(status=JobStatus.RUNNING) & (
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, updated_at__lt=cutoff)
    )


def unclaimed_q(*, now: datetime | None = None) -> Q:
    """Queued jobs due for longer than JOBS_SWEEP_UNCLAIMED_AFTER that nobody claimed, leaving
    out those waiting for room in their limit."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.JOBS_SWEEP_UNCLAIMED_AFTER)
    # due since max(queued_at, run_at): both must be older than the cutoff
    waiting_since = Q(queued_at__lt=cutoff) | Q(queued_at__isnull=True, created_at__lt=cutoff)
    due = Q(run_at__isnull=True) | Q(run_at__lt=cutoff)
    at_its_gate = Q(gate__isnull=False, dispatched_at__isnull=True)
    return Q(status=JobStatus.QUEUED) & waiting_since & due & ~at_its_gate


def stuck_jobs(
    *, kind: StuckKind = "any", queryset: QuerySet[Job] | None = None, now: datetime | None = None
) -> QuerySet[Job]:
    """Jobs that look stuck: `stale` heartbeats, `unclaimed` queued jobs, or `any` of both.

    Narrows `queryset` when given (the admin's changelist), else all jobs.
    """
    qs = queryset if queryset is not None else Job.objects.select_related(*_RELATED)
    if kind == "stale":
        return qs.filter(stale_heartbeat_q(now=now))
    if kind == "unclaimed":
        return qs.filter(unclaimed_q(now=now))
    if kind == "any":
        return qs.filter(stale_heartbeat_q(now=now) | unclaimed_q(now=now))
    raise JobValidationError("stuck", f"must be 'stale', 'unclaimed' or 'any', got {kind!r}")


def stale_running_jobs(*, now: datetime | None = None) -> QuerySet[Job]:
    return stuck_jobs(kind="stale", now=now)


def unclaimed_queued_jobs(*, now: datetime | None = None) -> QuerySet[Job]:
    return stuck_jobs(kind="unclaimed", now=now)


# --- tenancy look-ups for adapters (commands, API) that take a user's reference --------------


def user_find(*, username: str) -> Any | None:
    """The user with this username (the model's USERNAME_FIELD), or None."""
    User = get_user_model()
    return User._default_manager.filter(**{User.USERNAME_FIELD: username}).first()


def organization_find(*, ref: str | int) -> Organization | None:
    """The organization with this slug or, failing that, this numeric id; or None."""
    text = str(ref).strip()
    org = Organization.objects.filter(slug=text).first()
    if org is None and text.isdigit():
        org = Organization.objects.filter(pk=int(text)).first()
    return org


def project_find(*, project_id: str | int) -> Project | None:
    """The project with this numeric id, or None (also for a non-numeric id)."""
    text = str(project_id).strip()
    if not text.isdigit():
        return None
    return Project.objects.select_related("organization").filter(pk=int(text)).first()


# --- who sees and acts on which jobs (the API's scoping) ---------------------------------------


def _is_person(user: Any) -> bool:
    return user is not None and getattr(user, "is_authenticated", False)


def memberships_of(*, user: Any) -> dict[int, str]:
    """The organizations a user belongs to, as {organization id: role}; {} for anonymous."""
    if not _is_person(user):
        return {}
    return dict(Membership.objects.filter(user=user).values_list("organization_id", "role"))


def visible_jobs(*, user: Any, memberships: dict[int, str] | None = None) -> QuerySet[Job]:
    """The jobs a user may see: staff every job; anyone else the jobs they created and those of
    their organizations; anonymous none. Pass `memberships` (from `memberships_of`) to save
    its query.

    The organization ids are a literal list, not a subquery: PostgreSQL then combines the
    creator and organization indexes instead of filtering the whole table.
    """
    base = Job.objects.select_related(*_RELATED)
    if not _is_person(user):
        return base.none()
    if user.is_staff:
        return base
    org_ids = sorted(memberships_of(user=user) if memberships is None else memberships)
    scope = Q(created_by=user)
    if org_ids:
        scope |= Q(organization_id__in=org_ids)
    return base.filter(scope)


def actionable_jobs(*, user: Any, memberships: dict[int, str] | None = None) -> QuerySet[Job]:
    """The jobs a user may cancel and retry: staff every job; anyone else their own and those
    of the organizations where they are an admin."""
    base = Job.objects.select_related(*_RELATED)
    if not _is_person(user):
        return base.none()
    if user.is_staff:
        return base
    roles = memberships_of(user=user) if memberships is None else memberships
    admin_of = sorted(org for org, role in roles.items() if role == Membership.Role.ADMIN)
    scope = Q(created_by=user)
    if admin_of:
        scope |= Q(organization_id__in=admin_of)
    return base.filter(scope)


def user_may_act_on(*, user: Any, job: Job, memberships: dict[int, str] | None = None) -> bool:
    """Whether the user may cancel or retry this job (see `actionable_jobs`), without a query
    when `memberships` is given."""
    if not _is_person(user):
        return False
    if user.is_staff or (job.created_by_id is not None and job.created_by_id == user.pk):
        return True
    if job.organization_id is None:
        return False
    roles = memberships_of(user=user) if memberships is None else memberships
    return roles.get(job.organization_id) == Membership.Role.ADMIN


def organization_get(*, organization_id: int) -> Organization | None:
    """The organization with this id, or None."""
    return Organization.objects.filter(pk=organization_id).first()


# the statuses each bulk action starts from (jobs.states: cancel from queued or running,
# retry from failed or cancelled)
BULK_ACTION_SOURCES: dict[str, tuple[str, ...]] = {
    "cancel": (JobStatus.QUEUED, JobStatus.RUNNING),
    "retry": (JobStatus.FAILED, JobStatus.CANCELLED),
}


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
    if action not in BULK_ACTION_SOURCES:
        raise JobValidationError("action", f"must be one of {', '.join(BULK_ACTION_SOURCES)}, got {action!r}")
    qs = _filtered(actionable_jobs(user=user, memberships=memberships), **filters)
    qs = qs.filter(status__in=BULK_ACTION_SOURCES[action]).order_by("created_at", "pk")
    ids = list(qs.values_list("pk", flat=True)[: limit + 1])
    return ids[:limit], len(ids) > limit


def jobs_in_quota_scope(*, user: Any, organization: Any = None) -> QuerySet[Job]:
    """The jobs a quota counts: created by the user, in that organization (or in none)."""
    jobs = Job.objects.filter(created_by=user)
    if organization is None:
        return jobs.filter(organization__isnull=True)
    return jobs.filter(organization=organization)
