"""A user's schedule created, changed and deleted, with its PeriodicTask in the same transaction.

A system schedule is defined in code (`scheduler.system`) and changed by the sync only: these
verbs refuse it with ScheduleConflict (pausing, resuming and running one now are allowed).
"""
from __future__ import annotations

import logging
from datetime import datetime, time
from typing import Any

from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import PeriodicTasks

from audit.actors import Actor
from jobs.models import Organization
from scheduler.errors import ScheduleConflict, ScheduleValidationError
from scheduler.models import CatchUp, Overlap, ScheduledJob, ScheduleKind
from scheduler.services.auditing import schedule_audited
from scheduler.services.beat import beat_remove, beat_update
from scheduler.services.timing import first_run
from scheduler.services.validation import FIELDS, TIMING_FIELDS, validated_schedule

logger = logging.getLogger("conveyor.scheduler")

# The timing fields a create may give explicitly (the others have defaults).
_CREATE_EXPLICIT = frozenset({"cron", "time_of_day", "weekday", "day_of_month", "interval_seconds"})


def schedule_create(
    *,
    owner: Any,
    name: str,
    job_type: str,
    frequency: str,
    input: dict[str, Any] | None = None,
    organization: Organization | None = None,
    cron: str = "",
    time_of_day: time | str | None = None,
    weekday: int | str | None = None,
    day_of_month: int | None = None,
    interval_seconds: float | None = None,
    timezone_name: str | None = None,
    enabled: bool = True,
    overlap: str = Overlap.SKIP,
    catch_up: str = CatchUp.RUN_ONCE,
    description: str = "",
    now: datetime | None = None,
    by: Actor | None = None,
) -> ScheduledJob:
    """Create a user's schedule and its PeriodicTask; ScheduleValidationError names the bad field."""
    if owner is None or getattr(owner, "pk", None) is None:
        raise ScheduleValidationError("owner", "a user schedule needs an owner")
    data = validated_schedule(
        {"name": name, "job_type": job_type, "input": input, "frequency": frequency, "cron": cron,
         "time_of_day": time_of_day, "weekday": weekday, "day_of_month": day_of_month,
         "interval_seconds": interval_seconds, "timezone": timezone_name, "enabled": enabled, "overlap": overlap,
         "catch_up": catch_up, "organization": organization, "description": description},
        owner=owner,
        explicit=set(_CREATE_EXPLICIT),
    )
    now = now or timezone.now()
    with transaction.atomic():
        schedule = ScheduledJob(kind=ScheduleKind.USER, owner=owner, created_at=now, updated_at=now, **data)
        schedule.next_run_at = first_run(schedule, now) if schedule.is_active else None
        schedule.save(force_insert=True)
        beat_update(schedule)
        schedule_audited(by, "create", schedule)
    logger.info("%s created: %s, next run %s", schedule, schedule.cron_expression() or
                f"every {schedule.interval_seconds:g}s", schedule.next_run_at)
    return schedule


def _require_user_schedule(schedule: ScheduledJob, action: str) -> None:
    if schedule.is_system:
        raise ScheduleConflict(schedule, f"is a system schedule, defined in code (scheduler/system.py); it cannot "
                                         f"be {action}, only paused, resumed or run now")


def schedule_update(*, schedule: ScheduledJob, now: datetime | None = None, by: Actor | None = None,
                    **changes: Any) -> ScheduledJob:
    """Change some fields of a user's schedule (a PATCH). Timing changes move the next run to
    the new timetable's next tick; unknown fields raise."""
    _require_user_schedule(schedule, "edited")
    renamed = {"timezone_name": "timezone"}
    changes = {renamed.get(key, key): value for key, value in changes.items()}
    unknown = sorted(set(changes) - set(FIELDS))
    if unknown:
        raise ScheduleValidationError(unknown[0], f"is not a field of a schedule that can be changed "
                                                  f"({', '.join(sorted(FIELDS))})")
    current = {key: getattr(schedule, key) for key in FIELDS}
    data = validated_schedule({**current, **changes}, owner=schedule.owner, explicit=set(changes), current=schedule)
    now = now or timezone.now()
    retime = any(data[key] != getattr(schedule, key) for key in TIMING_FIELDS)
    with transaction.atomic():
        locked = ScheduledJob.objects.select_for_update().get(pk=schedule.pk)
        for key, value in data.items():
            setattr(locked, key, value)
        if retime:
            locked.next_run_at = first_run(locked, now) if locked.is_active else None
        locked.updated_at = now
        locked.save()
        beat_update(locked)
        schedule_audited(by, "change", locked, ", ".join(sorted(changes)),
                         {"changed": {key: str(value) for key, value in changes.items()}})
    logger.info("%s updated: %s", locked, ", ".join(sorted(changes)))
    return locked


def schedule_delete(*, schedule: ScheduledJob, by: Actor | None = None) -> None:
    """Delete a user's schedule and its PeriodicTask (the jobs it created stay)."""
    _require_user_schedule(schedule, "deleted")
    with transaction.atomic():
        schedule_audited(by, "delete", schedule)
        ScheduledJob.objects.filter(pk=schedule.pk).delete()
        beat_remove(schedule)
        PeriodicTasks.update_changed()
    logger.info("%s deleted", schedule)
