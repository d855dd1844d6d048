"""Every read of schedules for the admin, the management commands and the API.

Writes live in `scheduler.services`, which may import this module (never the reverse).
Visibility is the jobs' own access policy (`jobs.selectors.access`, ARCHITECTURE invariant
7) on the schedule's owner and organization: a user sees their own schedules and their
organizations' ones and manages their own and those of the organizations they administer;
staff see and manage everything, system schedules included; an invisible schedule is "not
found", never "forbidden".
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from jobs.conf import conf
from jobs.models import Job
from jobs.selectors import is_person, may_act, scope_q
from jobs.states import JobStatus
from jobs.validation import int_in_range
from scheduler.errors import ScheduleNotFound, ScheduleValidationError
from scheduler.models import Frequency, ScheduledJob, ScheduleKind

_RELATED = ("owner", "organization", "last_job", "periodic_task")
MAX_UPCOMING = 50


def schedule_queryset(
    *,
    kind: str | None = None,
    owner: Any = None,
    organization: Any = None,
    job_type: str | None = None,
    active: bool | None = None,
) -> QuerySet[ScheduledJob]:
    """Schedules matching every given filter, with owner, organization and last job joined."""
    qs = ScheduledJob.objects.select_related(*_RELATED)
    if kind is not None:
        if kind not in ScheduleKind.values:
            raise ScheduleValidationError("kind", f"{kind!r} is not one of {', '.join(ScheduleKind.values)}")
        qs = qs.filter(kind=kind)
    if owner is not None:
        qs = qs.filter(owner=owner)
    if organization is not None:
        qs = qs.filter(organization=organization)
    if job_type:
        qs = qs.filter(job_type=job_type)
    if active is True:
        qs = qs.filter(enabled=True, paused=False)
    elif active is False:
        qs = qs.filter(Q(enabled=False) | Q(paused=True))
    return qs


def schedules_visible_to(*, user: Any, queryset: QuerySet[ScheduledJob] | None = None) -> QuerySet[ScheduledJob]:
    """The schedules `user` may see: their own and their organizations' user schedules; all,
    for staff. Anonymous users see none."""
    qs = queryset if queryset is not None else schedule_queryset()
    if not is_person(user):
        return qs.none()  # no query at all, where a condition would still cost one
    scope = scope_q(user=user, owner_field="owner")
    if scope is None:
        return qs
    # system schedules are for staff; with no owner and no organization the scope leaves
    # them out anyway, the kind says so in the query
    return qs.filter(kind=ScheduleKind.USER).filter(scope)


def schedule_can_manage(*, user: Any, schedule: ScheduledJob) -> bool:
    """May `user` change, pause, resume, run or delete `schedule`: staff; the owner; an admin
    of its organization. (System schedules: staff only, and only pause, resume, run now.)"""
    if schedule.is_system and not getattr(user, "is_staff", False):
        return False  # defined in code: only an operator pauses, resumes or runs it
    return may_act(user=user, owner_id=schedule.owner_id, organization_id=schedule.organization_id)


def parse_schedule_id(schedule_id: Any) -> int:
    try:
        value = int(str(schedule_id).strip())
    except (TypeError, ValueError):
        raise ScheduleValidationError("id", f"{schedule_id!r} is not a schedule id (a positive integer)") from None
    if value < 1:
        raise ScheduleValidationError("id", f"{schedule_id!r} is not a schedule id (a positive integer)")
    return value


def schedule_get(*, schedule_id: Any, user: Any = None) -> ScheduledJob:
    """The schedule with this id (visible to `user`, when given); ScheduleNotFound otherwise."""
    pk = parse_schedule_id(schedule_id)
    qs = schedule_queryset()
    if user is not None:
        qs = schedules_visible_to(user=user, queryset=qs)
    schedule = qs.filter(pk=pk).first()
    if schedule is None:
        raise ScheduleNotFound(pk)
    return schedule


def schedule_find(*, ref: str) -> ScheduledJob:
    """A schedule by the name of a system schedule, or by id (`42`); for the commands."""
    text = str(ref).strip()
    schedule = schedule_queryset(kind=ScheduleKind.SYSTEM).filter(name=text).first()
    if schedule is None and text.isdigit():
        schedule = schedule_queryset().filter(pk=int(text)).first()
    if schedule is None:
        raise ScheduleNotFound(f"{text!r} (neither a system schedule's name nor a schedule id)")
    return schedule


def schedule_upcoming(*, schedule: ScheduledJob, count: int = 5, after: datetime | None = None) -> list[datetime]:
    """The next `count` run times (the API shows five); [] for a paused or disabled schedule
    and for a core task schedule (beat sends those every few seconds)."""
    int_in_range("count", count, 1, MAX_UPCOMING, error=ScheduleValidationError)
    if not schedule.is_active or schedule.fires_through_task or schedule.next_run_at is None:
        return []
    after = after or timezone.now()
    first = schedule.next_run_at
    if schedule.frequency == Frequency.INTERVAL:
        every = timedelta(seconds=schedule.interval_seconds or 0)
        return [first + every * index for index in range(count)]
    # the unfired tick first (it may be overdue, to be fired by the overdue check), then the timetable
    return [first, *schedule.timetable().upcoming(max(first, after), count - 1)]


def schedule_jobs(*, schedule: ScheduledJob) -> QuerySet[Job]:
    """The jobs a schedule created (by their dedup key), newest first."""
    return Job.objects.filter(dedup_key__startswith=schedule.job_key_prefix()).order_by("-created_at")


def schedule_unfinished_jobs(*, schedule: ScheduledJob) -> QuerySet[Job]:
    """Its jobs still queued or running: what the overlap policy "skip" waits for."""
    return schedule_jobs(schedule=schedule).filter(status__in=(JobStatus.QUEUED, JobStatus.RUNNING))


def schedules_overdue(*, now: datetime | None = None) -> QuerySet[ScheduledJob]:
    """Enabled schedules firing jobs whose next tick is later than JOBS_SCHEDULE_MISFIRE_GRACE:
    beat is down, or its messages are not getting through (the safety net fires them too)."""
    cutoff = (now or timezone.now()) - timedelta(seconds=conf.schedule_misfire_grace)
    return ScheduledJob.objects.filter(enabled=True, paused=False, task="", next_run_at__lte=cutoff)
