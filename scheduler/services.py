"""Every write to a schedule, and every tick it fires, goes through here.

1. A user schedule is validated field by field (errors name the API's field: `cron`,
   `timeOfDay`, ...), stored, and kept in step with its django-celery-beat PeriodicTask in the
   same transaction: beat sends `scheduler.fire_schedule(schedule_id)` when the crontab or
   interval says so. Pause and resume work on both kinds; system schedules are otherwise
   edited in code only (`scheduler.system`, synced by `schedules_sync`).
2. Firing claims the tick with one guarded UPDATE of `next_run_at` (the earliest unfired
   tick, computed by `scheduler.timetable`): the message that wins creates the tick's job,
   every other one (a second beat, a redelivery, the overdue check) changes nothing.
3. The job is made by the job services themselves: `job_submit` (the owner's quota applies)
   for a user schedule, `job_create` for a tracked system job, `system_job_send` for a system
   job with no row. Its dedup key is the schedule and the tick (`schedule:<id>:<time>`,
   which job_submit scopes to the owner or the organization; `system:<name>:<time>`), so the
   jobs of a schedule are found by their key (`ScheduledJob.job_key_prefix`).
4. Catch-up: a tick fired later than JOBS_SCHEDULE_MISFIRE_GRACE, or after missed ticks,
   runs once for the latest of them ("run_once"), or not at all ("skip"); never once per
   missed tick. Overlap "skip": no job while a previous run of the schedule is queued or
   running; the tick is spent and the reason recorded.
5. The sync upserts the code's system schedules by name, removes the system schedules that
   left the list, never reads or writes a user's schedule, and tells running beats with
   `PeriodicTasks.update_changed()`.
"""
from __future__ import annotations

import json
import logging
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone as dt_timezone
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask, PeriodicTasks

from jobs import worker_session
from jobs.errors import ConveyorError, JobValidationError
from jobs.models import Job, Membership, Organization
from scheduler.errors import ScheduleConfigurationError, ScheduleConflict, ScheduleValidationError
from scheduler.models import CatchUp, FireOutcome, Frequency, Overlap, ScheduledJob, ScheduleKind, Weekday
from scheduler.timetable import Timetable, TimetableError, parse_cron, parse_timezone

logger = logging.getLogger("conveyor.scheduler")

FIRE_TASK = "scheduler.fire_schedule"
# A beat host's clock may run a little ahead of the worker's: a message this early still
# takes its tick (for an interval, at most 40% of the interval).
EARLY_TOLERANCE = 2.0
# The overdue check leaves a tick this long to beat's own message before firing it itself.
OVERDUE_AFTER = 10.0

_WEEKDAY_NAMES = {label.lower(): value for value, label in Weekday.choices}
_WEEKDAY_NAMES.update({label.lower()[:3]: value for value, label in Weekday.choices})
_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(00))?\s*$")


# --- the shape of a schedule --------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(dt_timezone.utc).isoformat().replace("+00:00", "Z")


def _parse_time(value: Any) -> time:
    if isinstance(value, time):
        if value.second or value.microsecond:
            raise ScheduleValidationError("timeOfDay", f"{value.isoformat()} has seconds; schedules run on whole minutes")
        return value.replace(tzinfo=None)
    match = _TIME.match(value) if isinstance(value, str) else None
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ScheduleValidationError("timeOfDay", f"{value!r} is not a time of day; write HH:MM, e.g. '03:00'")
    return time(int(match.group(1)), int(match.group(2)))


def _parse_weekday(value: Any) -> int:
    if isinstance(value, str) and value.strip().lower() in _WEEKDAY_NAMES:
        return _WEEKDAY_NAMES[value.strip().lower()]
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 6:
        return value
    raise ScheduleValidationError("weekday", f"{value!r} is not a weekday; give 0 (Monday) to 6 (Sunday) or a "
                                             "name such as 'monday'")


def _validated_input(job_type: str, value: Any) -> dict[str, Any]:
    """The input as the job services will check it when the schedule fires: a JSON object
    within the size limit that fits the type's schema; refused now rather than at 03:00."""
    from handlers.registry import get_handler
    from jobs import services as job_services

    try:
        payload = job_services.validated_input(value)
        spec = get_handler(job_type)
        if spec is not None:
            job_services.check_input_schema(spec, payload)
    except JobValidationError as exc:
        raise ScheduleValidationError(exc.field, exc.detail) from None
    return payload


_FIELDS = ("name", "job_type", "input", "frequency", "cron", "time_of_day", "weekday", "day_of_month",
           "interval_seconds", "timezone", "enabled", "overlap", "catch_up", "organization", "description")


def _validated(values: dict[str, Any], *, owner: Any, explicit: set[str], current: ScheduledJob | None = None
               ) -> dict[str, Any]:
    """A user schedule's definition, checked and normalized; the fields the frequency does
    not use are cleared. `explicit` are the fields the caller gave (a field that does not
    apply to the frequency is an error when given, dropped when only inherited). Raises
    ScheduleValidationError naming the first bad field."""
    from handlers.registry import get_handler, registered_types

    data = dict(values)
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 100:
        raise ScheduleValidationError("name", "must be 1 to 100 characters")
    data["name"] = name.strip()
    if not isinstance(data.get("description") or "", str) or len(data.get("description") or "") > 500:
        raise ScheduleValidationError("description", "must be text of at most 500 characters")
    data["description"] = data.get("description") or ""

    job_type = data.get("job_type")
    spec = get_handler(job_type) if isinstance(job_type, str) else None
    if spec is None or spec.system:
        listed = ", ".join(registered_types(system=False)) or "none"
        why = "is a system job, which only system schedules start" if spec is not None else "is not a registered type"
        raise ScheduleValidationError("jobType", f"{job_type!r} {why}; types a schedule may start: {listed}")
    data["input"] = _validated_input(job_type, data.get("input"))

    frequency = data.get("frequency")
    if frequency not in Frequency.values:
        raise ScheduleValidationError("frequency", f"{frequency!r} is not one of {', '.join(Frequency.values)}")
    zone_name = data.get("timezone") or settings.TIME_ZONE
    try:
        parse_timezone(zone_name)
    except TimetableError as exc:
        raise ScheduleValidationError("timezone", str(exc)) from None
    data["timezone"] = zone_name.strip()

    needs = {
        Frequency.DAILY: {"time_of_day"},
        Frequency.WEEKLY: {"time_of_day", "weekday"},
        Frequency.MONTHLY: {"time_of_day", "day_of_month"},
        Frequency.CRON: {"cron"},
        Frequency.INTERVAL: {"interval_seconds"},
    }[Frequency(frequency)]
    api_name = {"time_of_day": "timeOfDay", "weekday": "weekday", "day_of_month": "dayOfMonth", "cron": "cron",
                "interval_seconds": "intervalSeconds"}
    for key in ("time_of_day", "weekday", "day_of_month", "cron", "interval_seconds"):
        given = data.get(key) not in (None, "")
        if key in needs and not given:
            raise ScheduleValidationError(api_name[key], f"is required for a {frequency} schedule")
        if key not in needs:
            if given and key in explicit:
                raise ScheduleValidationError(api_name[key], f"does not apply to a {frequency} schedule")
            data[key] = "" if key == "cron" else None
    if "time_of_day" in needs:
        data["time_of_day"] = _parse_time(data["time_of_day"])
    if "weekday" in needs:
        data["weekday"] = _parse_weekday(data["weekday"])
    if "day_of_month" in needs:
        day = data["day_of_month"]
        if isinstance(day, bool) or not isinstance(day, int) or not 1 <= day <= 28:
            raise ScheduleValidationError("dayOfMonth", f"{day!r}: give 1 to 28, days every month has (use a cron "
                                                        "expression for the 29th to the 31st)")
    if "cron" in needs:
        if not isinstance(data["cron"], str):
            raise ScheduleValidationError("cron", f"must be a string of five fields, got {data['cron']!r}")
        try:
            parse_cron(data["cron"])
        except TimetableError as exc:
            raise ScheduleValidationError("cron", str(exc)) from None
        data["cron"] = " ".join(data["cron"].split())
    if "interval_seconds" in needs:
        seconds = data["interval_seconds"]
        minimum = settings.JOBS_SCHEDULE_MIN_INTERVAL
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) \
                or seconds < minimum:
            raise ScheduleValidationError("intervalSeconds", f"{seconds!r}: give a number of seconds >= {minimum:g} "
                                                             "(JOBS_SCHEDULE_MIN_INTERVAL)")
        data["interval_seconds"] = float(seconds)

    for key, choices, api in (("overlap", Overlap, "overlap"), ("catch_up", CatchUp, "catchUp")):
        value = data.get(key) or choices.values[0]
        if value not in choices.values:
            raise ScheduleValidationError(api, f"{value!r} is not one of {', '.join(choices.values)}")
        data[key] = value
    if not isinstance(data.get("enabled", True), bool):
        raise ScheduleValidationError("enabled", f"must be true or false, got {data.get('enabled')!r}")
    data.setdefault("enabled", True)

    organization = data.get("organization")
    if organization is not None:
        if not isinstance(organization, Organization):
            raise ScheduleValidationError("organizationId", f"{organization!r} is not an organization")
        member = Membership.objects.filter(user=owner, organization=organization).exists()
        if not member and not getattr(owner, "is_staff", False):
            raise ScheduleValidationError(
                "organizationId", f"user {owner.pk} is not a member of organization {organization.pk} ({organization.slug})"
            )
    same_name = ScheduledJob.objects.filter(kind=ScheduleKind.USER, owner=owner, name=data["name"])
    if current is not None:
        same_name = same_name.exclude(pk=current.pk)
    if same_name.exists():
        raise ScheduleValidationError("name", f"user {owner.pk} already has a schedule named {data['name']!r}")
    return data


def schedule_timetable(*, schedule: ScheduledJob) -> Timetable:
    """The run times of a schedule (stored rows were validated when written)."""
    if schedule.frequency == Frequency.INTERVAL:
        return Timetable.for_interval(schedule.interval_seconds or 0)
    return Timetable.for_cron(schedule.cron_expression(), schedule.timezone)


def _first_run(schedule: ScheduledJob, now: datetime) -> datetime | None:
    if schedule.fires_through_task:
        return None  # beat sends the task itself; there is no tick to claim
    if schedule.frequency == Frequency.INTERVAL:
        return now + timedelta(seconds=schedule.interval_seconds or 0)
    return schedule_timetable(schedule=schedule).next_after(now)


# --- the PeriodicTask beside each schedule ----------------------------------------------------


def _interval_row(seconds: float) -> IntervalSchedule:
    # IntervalSchedule.every is an integer: a fraction of a second goes in microseconds
    if float(seconds).is_integer():
        every, period = int(seconds), IntervalSchedule.SECONDS
    else:
        every, period = int(round(seconds * 1_000_000)), IntervalSchedule.MICROSECONDS
    row = IntervalSchedule.objects.filter(every=every, period=period).order_by("pk").first()
    return row or IntervalSchedule.objects.create(every=every, period=period)


def _crontab_row(expression: str, zone: str) -> CrontabSchedule:
    spec = parse_cron(expression)
    fields = {"minute": spec.minute, "hour": spec.hour, "day_of_month": spec.day_of_month,
              "month_of_year": spec.month_of_year, "day_of_week": spec.day_of_week}
    # two beats syncing at once may each create one; either is as good
    row = CrontabSchedule.objects.filter(**fields, timezone=zone).order_by("pk").first()
    return row or CrontabSchedule.objects.create(**fields, timezone=zone)


def _beat_state(schedule: ScheduledJob) -> dict[str, Any]:
    """What the schedule's PeriodicTask must say, as comparable values."""
    if schedule.frequency == Frequency.INTERVAL:
        when: tuple[Any, ...] = ("interval", float(schedule.interval_seconds or 0))
    else:
        when = ("crontab", schedule.cron_expression(), schedule.timezone)
    task = schedule.task or FIRE_TASK
    return {
        "task": task,
        "kwargs": {} if schedule.task else {"schedule_id": schedule.pk},
        "queue": settings.JOBS_SYSTEM_QUEUE,
        "enabled": schedule.is_active,
        # a task's tick that no worker took before the next one is worth nothing (the rescuer)
        "expire_seconds": math.ceil(schedule.interval_seconds)
        if schedule.task and schedule.frequency == Frequency.INTERVAL else None,
        "description": (schedule.description or f"{schedule.kind} schedule {schedule.name}")[:500],
        "when": when,
    }


def _beat_state_of(task: PeriodicTask) -> dict[str, Any]:
    if task.interval_id:
        interval = task.interval
        when: tuple[Any, ...] = ("interval", timedelta(**{interval.period: interval.every}).total_seconds())
    elif task.crontab_id:
        cron = task.crontab
        when = ("crontab", " ".join((cron.minute, cron.hour, cron.day_of_month, cron.month_of_year, cron.day_of_week)),
                str(cron.timezone))
    else:
        when = ("other",)
    try:
        kwargs = json.loads(task.kwargs or "{}")
    except ValueError:
        kwargs = None
    return {
        "task": task.task,
        "kwargs": kwargs,
        "queue": task.queue,
        "enabled": task.enabled,
        "expire_seconds": task.expire_seconds,
        "description": task.description,
        "when": when if task.solar_id is None and task.clocked_id is None else ("other",),
    }


def _beat_apply(schedule: ScheduledJob, desired: dict[str, Any]) -> list[str]:
    """Make the schedule's PeriodicTask say `desired`; the names of what changed."""
    task = schedule.periodic_task
    name = schedule.periodic_task_name()
    if task is None:
        # adopt a PeriodicTask of that name (one from the former CELERY_BEAT_SCHEDULE)
        task = PeriodicTask.objects.filter(name=name).first()
    current = _beat_state_of(task) if task is not None else {}
    changed = [key for key, value in desired.items() if current.get(key) != value]
    if task is not None and task.name != name:
        changed.append("name")
    if not changed:
        if schedule.periodic_task_id != task.pk:  # type: ignore[union-attr]
            ScheduledJob.objects.filter(pk=schedule.pk).update(periodic_task=task)
            schedule.periodic_task = task
        return []
    task = task or PeriodicTask(name=name)
    task.name = name
    task.task = desired["task"]
    task.args = "[]"
    task.kwargs = json.dumps(desired["kwargs"])
    task.queue = desired["queue"]
    task.enabled = desired["enabled"]
    task.expire_seconds = desired["expire_seconds"]
    task.expires = None
    task.description = desired["description"]
    task.one_off = False
    task.start_time = None
    task.solar = task.clocked = None
    task.no_changes = False  # let the model's own signal tell beat too
    if desired["when"][0] == "interval":
        task.interval, task.crontab = _interval_row(desired["when"][1]), None
    else:
        task.crontab, task.interval = _crontab_row(desired["when"][1], desired["when"][2]), None
    task.save()
    if schedule.periodic_task_id != task.pk:
        ScheduledJob.objects.filter(pk=schedule.pk).update(periodic_task=task)
        schedule.periodic_task = task
    return changed


def _beat_update(schedule: ScheduledJob) -> None:
    if _beat_apply(schedule, _beat_state(schedule)):
        PeriodicTasks.update_changed()


# --- user schedules -------------------------------------------------------------------------------


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
) -> ScheduledJob:
    """Create a user's schedule and its PeriodicTask; ScheduleValidationError names the bad field."""
    if owner is None or getattr(owner, "pk", None) is None:
        raise ScheduleValidationError("owner", "a user schedule needs an owner")
    data = _validated(
        {"name": name, "job_type": job_type, "input": input, "frequency": frequency, "cron": cron,
         "time_of_day": time_of_day, "weekday": weekday, "day_of_month": day_of_month,
         "interval_seconds": interval_seconds, "timezone": timezone_name, "enabled": enabled, "overlap": overlap,
         "catch_up": catch_up, "organization": organization, "description": description},
        owner=owner,
        explicit={"cron", "time_of_day", "weekday", "day_of_month", "interval_seconds"},
    )
    now = now or timezone.now()
    with transaction.atomic():
        schedule = ScheduledJob(kind=ScheduleKind.USER, owner=owner, created_at=now, updated_at=now, **data)
        schedule.next_run_at = _first_run(schedule, now) if schedule.is_active else None
        schedule.save(force_insert=True)
        _beat_update(schedule)
    logger.info("%s created: %s, next run %s", schedule, schedule.cron_expression() or
                f"every {schedule.interval_seconds:g}s", schedule.next_run_at)
    return schedule


def _require_user_schedule(schedule: ScheduledJob, action: str) -> None:
    if schedule.is_system:
        raise ScheduleConflict(schedule, f"is a system schedule, defined in code (scheduler/system.py); it cannot "
                                         f"be {action}, only paused, resumed or run now")


def schedule_update(*, schedule: ScheduledJob, now: datetime | None = None, **changes: Any) -> ScheduledJob:
    """Change some fields of a user's schedule (a PATCH). Timing changes move the next run to
    the new timetable's next tick; unknown fields raise."""
    _require_user_schedule(schedule, "edited")
    renamed = {"timezone_name": "timezone"}
    changes = {renamed.get(key, key): value for key, value in changes.items()}
    unknown = sorted(set(changes) - set(_FIELDS))
    if unknown:
        raise ScheduleValidationError(unknown[0], f"is not a field of a schedule that can be changed "
                                                  f"({', '.join(sorted(_FIELDS))})")
    current = {key: getattr(schedule, key) for key in _FIELDS}
    data = _validated({**current, **changes}, owner=schedule.owner, explicit=set(changes), current=schedule)
    now = now or timezone.now()
    timing = ("frequency", "cron", "time_of_day", "weekday", "day_of_month", "interval_seconds", "timezone", "enabled")
    retime = any(data[key] != getattr(schedule, key) for key in timing)
    with transaction.atomic():
        locked = ScheduledJob.objects.select_for_update().get(pk=schedule.pk)
        for key, value in data.items():
            setattr(locked, key, value)
        if retime:
            locked.next_run_at = _first_run(locked, now) if locked.is_active else None
        locked.updated_at = now
        locked.save()
        _beat_update(locked)
    logger.info("%s updated: %s", locked, ", ".join(sorted(changes)))
    return locked


def schedule_delete(*, schedule: ScheduledJob) -> None:
    """Delete a user's schedule and its PeriodicTask (the jobs it created stay)."""
    _require_user_schedule(schedule, "deleted")
    with transaction.atomic():
        task_id = schedule.periodic_task_id
        ScheduledJob.objects.filter(pk=schedule.pk).delete()
        if task_id is not None:
            PeriodicTask.objects.filter(pk=task_id).delete()
        PeriodicTasks.update_changed()
    logger.info("%s deleted", schedule)


def schedule_pause(*, schedule: ScheduledJob, now: datetime | None = None) -> ScheduledJob:
    """Stop firing (either kind) until resumed; a system schedule stays paused across syncs."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = ScheduledJob.objects.select_for_update().get(pk=schedule.pk)
        if not locked.paused:
            locked.paused = True
            locked.updated_at = now
            locked.save(update_fields=["paused", "updated_at"])
        _beat_update(locked)
    logger.info("%s paused", locked)
    return locked


def schedule_resume(*, schedule: ScheduledJob, now: datetime | None = None) -> ScheduledJob:
    """Fire again from the next tick after now: ticks that passed while paused are not caught up."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = ScheduledJob.objects.select_for_update().get(pk=schedule.pk)
        if locked.paused:
            locked.paused = False
            locked.next_run_at = _first_run(locked, now) if locked.enabled else None
            locked.updated_at = now
            locked.save(update_fields=["paused", "next_run_at", "updated_at"])
        _beat_update(locked)
    logger.info("%s resumed, next run %s", locked, locked.next_run_at)
    return locked


# --- firing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FireResult:
    """What one request to fire did. `outcome` is None when it did nothing (not due, already
    fired by another message, inactive); `reason` then says which."""

    schedule_id: int | None
    outcome: str | None
    reason: str = ""
    scheduled_for: datetime | None = None
    job: Job | None = None
    task_id: str | None = None

    @property
    def fired(self) -> bool:
        return self.outcome is not None


def _unfinished_run(schedule: ScheduledJob) -> tuple[Any, str] | None:
    """A job of this schedule still queued or running (retries waiting count as queued)."""
    from scheduler.selectors import schedule_unfinished_jobs

    return schedule_unfinished_jobs(schedule=schedule).order_by("created_at").values_list("pk", "status").first()


def _is_system_job(schedule: ScheduledJob) -> bool:
    from handlers.registry import get_handler

    spec = get_handler(schedule.job_type)
    return spec is not None and spec.system


def _create_job(schedule: ScheduledJob, dedup_key: str) -> Job:
    from jobs import services as job_services

    if schedule.is_system:
        return job_services.job_create(type=schedule.job_type, input=schedule.input, dedup_key=dedup_key)
    # the owner's request, made on their behalf: their quota applies as to the API
    return job_services.job_submit(user=schedule.owner, type=schedule.job_type, input=schedule.input,
                                   organization=schedule.organization, dedup_key=dedup_key)


def _record(schedule_id: int, now: datetime, outcome: str, message: str, *, job: Job | None = None,
            counted: bool = False) -> None:
    changes: dict[str, Any] = {"last_outcome": outcome, "last_message": message[:500], "last_fired_at": now,
                               "updated_at": now}
    if job is not None:
        changes["last_job"] = job
    if counted:
        changes["run_count"] = F("run_count") + 1
    ScheduledJob.objects.filter(pk=schedule_id).update(**changes)


def _tolerance(schedule: ScheduledJob) -> float:
    if schedule.frequency == Frequency.INTERVAL:
        return min(EARLY_TOLERANCE, 0.4 * (schedule.interval_seconds or 0))
    return EARLY_TOLERANCE


def _due_tick(schedule: ScheduledJob, expected: datetime, now: datetime) -> tuple[datetime, datetime | None, bool]:
    """(the tick to fire: the latest due one, the next unfired tick, whether ticks were missed)."""
    horizon = now + timedelta(seconds=_tolerance(schedule))
    if schedule.frequency == Frequency.INTERVAL:
        every = schedule.interval_seconds or 0
        missed = math.floor(max(0.0, (now - expected).total_seconds()) / every)
        tick = expected + timedelta(seconds=missed * every)
        # every N seconds after this run, as beat's interval counts
        return tick, max(now, expected) + timedelta(seconds=every), missed > 0
    table = schedule_timetable(schedule=schedule)
    latest = table.latest_at_or_before(horizon)
    tick = latest if latest is not None and latest > expected else expected
    return tick, table.next_after(max(horizon, tick)), tick != expected


def schedule_fire(*, schedule_id: Any, now: datetime | None = None, trigger: str = "beat") -> FireResult:
    """Fire the schedule's due tick if this call is the one that claims it (see the module doc).

    `trigger` only labels the logs: "beat", "overdue" (the safety net), "test".
    """
    now = now or timezone.now()
    try:
        pk = int(schedule_id)
    except (TypeError, ValueError):
        logger.warning("fire: malformed schedule id %r ignored", schedule_id)
        return FireResult(None, None, "malformed schedule id")
    schedule = ScheduledJob.objects.select_related("owner", "organization").filter(pk=pk).first()
    if schedule is None:
        return FireResult(pk, None, "no such schedule (deleted)")
    if schedule.fires_through_task:
        return FireResult(pk, None, "a task schedule: beat sends its task itself")
    if not schedule.is_active:
        return FireResult(pk, None, "paused or disabled")
    expected = schedule.next_run_at
    if expected is None:
        # a row that was never armed: arm it, it fires from its next tick
        ScheduledJob.objects.filter(pk=pk, next_run_at__isnull=True).update(next_run_at=_first_run(schedule, now))
        return FireResult(pk, None, "armed: it had no next run")
    if expected > now + timedelta(seconds=_tolerance(schedule)):
        return FireResult(pk, None, f"not due until {_iso(expected)} (already fired, or an early message)")
    tick, following, missed = _due_tick(schedule, expected, now)
    late = (now - tick).total_seconds() > settings.JOBS_SCHEDULE_MISFIRE_GRACE
    key = schedule.job_key(_iso(tick))
    send_system_job = False
    result: FireResult
    with transaction.atomic():
        worker_session.commit_durably()
        # the claim: of every message for this tick, the first to move next_run_at wins
        claimed = ScheduledJob.objects.filter(pk=pk, next_run_at=expected, enabled=True, paused=False).update(
            next_run_at=following, last_run_at=tick, updated_at=now
        )
        if not claimed:
            return FireResult(pk, None, "another message already fired this tick", tick)
        note = f"tick {_iso(tick)} fired by {trigger}" + (
            f", {(now - tick).total_seconds():.0f}s late" if late else "") + (
            " after missed ticks" if missed else "")
        if late and schedule.catch_up == CatchUp.SKIP:
            _record(pk, now, FireOutcome.SKIPPED_MISSED, f"{note}: catch-up is off, waiting for the next tick")
            result = FireResult(pk, FireOutcome.SKIPPED_MISSED, "missed", tick)
        elif _is_system_job(schedule):
            send_system_job = True  # after the commit: a message is no transaction's part
            result = FireResult(pk, FireOutcome.SENT, note, tick)
        elif not schedule.is_system and not schedule.owner.is_active:
            message = f"{note}: no job: its owner, user {schedule.owner_id}, is deactivated"
            _record(pk, now, FireOutcome.FAILED, message)
            result = FireResult(pk, FireOutcome.FAILED, message, tick)
        elif schedule.overlap == Overlap.SKIP and (previous := _unfinished_run(schedule)) is not None:
            message = f"{note}: skipped, job {previous[0]} of the previous run is still {previous[1]}"
            _record(pk, now, FireOutcome.SKIPPED_OVERLAP, message)
            result = FireResult(pk, FireOutcome.SKIPPED_OVERLAP, message, tick)
        else:
            try:
                with transaction.atomic():  # a refused job (quota, a type since removed) keeps the claim
                    job = _create_job(schedule, key)
            except ConveyorError as exc:
                message = f"{note}: no job: {exc}"
                _record(pk, now, FireOutcome.FAILED, message)
                result = FireResult(pk, FireOutcome.FAILED, message, tick)
            else:
                outcome = FireOutcome.DEDUPLICATED if getattr(job, "deduplicated", False) else FireOutcome.CREATED
                _record(pk, now, outcome, f"{note}: job {job.pk}", job=job, counted=outcome == FireOutcome.CREATED)
                result = FireResult(pk, outcome, note, tick, job=job)
    if send_system_job:
        result = _send_system_job(schedule, tick, now, note)
    level = logging.WARNING if result.outcome in (FireOutcome.FAILED, FireOutcome.SKIPPED_MISSED) else logging.INFO
    logger.log(level, "%s: %s (%s)", schedule, result.outcome, result.reason if result.job is None else
               f"job {result.job.pk}")
    return result


def _send_system_job(schedule: ScheduledJob, tick: datetime | None, now: datetime, note: str) -> FireResult:
    from jobs import services as job_services

    try:
        task_id = job_services.system_job_send(type=schedule.job_type, input=schedule.input)
    except Exception as exc:  # a validation error, or the broker down: the tick is spent either way
        message = f"{note}: system job not sent: {exc}"
        _record(schedule.pk, now, FireOutcome.FAILED, message)
        return FireResult(schedule.pk, FireOutcome.FAILED, message, tick)
    _record(schedule.pk, now, FireOutcome.SENT, f"{note}: system job {task_id}", counted=True)
    return FireResult(schedule.pk, FireOutcome.SENT, note, tick, task_id=task_id)


def _send_task(schedule: ScheduledJob, now: datetime, note: str) -> FireResult:
    from config.celery import app

    try:
        task_id = app.send_task(schedule.task, queue=settings.JOBS_SYSTEM_QUEUE).id
    except Exception as exc:  # the broker is down
        message = f"{note}: task {schedule.task} not sent: {exc}"
        _record(schedule.pk, now, FireOutcome.FAILED, message)
        return FireResult(schedule.pk, FireOutcome.FAILED, message, now)
    _record(schedule.pk, now, FireOutcome.SENT, f"{note}: task {schedule.task} {task_id}", counted=True)
    return FireResult(schedule.pk, FireOutcome.SENT, note, now, task_id=task_id)


def schedules_fire_overdue(*, now: datetime | None = None, limit: int = 500) -> int:
    """The safety net: fire the schedules whose tick passed OVERDUE_AFTER seconds ago without
    being claimed (beat's message lost, beat down, a crontab beat skipped). Returns how many
    fired; the claim makes a race with beat's own message harmless."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=OVERDUE_AFTER)
    overdue = list(
        ScheduledJob.objects.filter(enabled=True, paused=False, next_run_at__lte=cutoff, task="")
        .order_by("next_run_at").values_list("pk", flat=True)[:limit]
    )
    fired = 0
    for pk in overdue:
        try:
            fired += schedule_fire(schedule_id=pk, trigger="overdue").fired
        except Exception:  # one broken schedule must not stop the others
            logger.exception("overdue check: schedule %s could not be fired", pk)
    if fired:
        logger.warning("overdue check fired %s schedule(s) whose tick passed without beat's message", fired)
    return fired


def schedule_run_now(*, schedule: ScheduledJob, now: datetime | None = None) -> FireResult:
    """Start one run now, outside the timetable (next_run_at is unchanged). The overlap policy
    holds: "skip" refuses while a previous run is queued or running (ScheduleConflict). Job
    errors (quota, validation) propagate: nothing was created."""
    now = now or timezone.now()
    note = "run now"
    if schedule.fires_through_task:
        return _send_task(schedule, now, note)
    if _is_system_job(schedule):
        return _send_system_job(schedule, now, now, note)
    with transaction.atomic():
        # the row lock serializes this with a tick firing at the same moment (its claim UPDATE)
        locked = (ScheduledJob.objects.select_for_update(of=("self",)).select_related("owner", "organization")
                  .get(pk=schedule.pk))
        if locked.overlap == Overlap.SKIP and (previous := _unfinished_run(locked)) is not None:
            raise ScheduleConflict(locked, f"job {previous[0]} of its previous run is still {previous[1]} and its "
                                           "overlap policy is 'skip'")
        job = _create_job(locked, locked.job_key(f"now:{_iso(now)}:{uuid.uuid4().hex[:8]}"))
        _record(locked.pk, now, FireOutcome.CREATED, f"{note}: job {job.pk}", job=job, counted=True)
    logger.info("%s run now: job %s", locked, job.pk)
    return FireResult(locked.pk, FireOutcome.CREATED, note, now, job=job)


# --- the system schedules' sync ---------------------------------------------------------------


@dataclass
class SyncReport:
    """What a sync did (or, with dry_run, would do): names, and for updates the fields."""

    created: list[str] = field(default_factory=list)
    updated: dict[str, list[str]] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.removed)

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "updated": self.updated, "removed": self.removed,
                "unchanged": self.unchanged, "dryRun": self.dry_run}


def _system_row_values(definition: Any) -> dict[str, Any]:
    enabled = definition.enabled and definition.name not in settings.JOBS_SCHEDULES_DISABLED
    return {
        "description": definition.description[:500],
        "job_type": definition.job_type,
        "task": definition.task,
        "input": dict(definition.input),
        "frequency": Frequency.INTERVAL if definition.every is not None else Frequency.CRON,
        "cron": " ".join(definition.cron.split()) if definition.cron else "",
        "interval_seconds": float(definition.every) if definition.every is not None else None,
        "time_of_day": None,
        "weekday": None,
        "day_of_month": None,
        # an interval runs every N seconds in any zone
        "timezone": definition.zone_name if definition.cron else "UTC",
        "enabled": enabled,
        "overlap": definition.overlap,
        "catch_up": definition.catch_up,
    }


def schedules_sync(*, definitions: list[Any] | None = None, dry_run: bool = False,
                   now: datetime | None = None) -> SyncReport:
    """Make the system schedules in the database (and beat's PeriodicTasks) match the list.

    Raises ScheduleConfigurationError, changing nothing, when the list has a problem. Two
    beats starting at once may race on a new name: the loser's transaction is retried and
    then finds the row.
    """
    from scheduler import system

    definitions = system.SYSTEM_SCHEDULES if definitions is None else definitions
    problems = system.validate_all(definitions)
    if problems:
        raise ScheduleConfigurationError(problems)
    for attempt in range(3):
        try:
            with transaction.atomic():
                report = _sync_once(definitions, now or timezone.now())
                report.dry_run = dry_run
                if report.changed and not dry_run:
                    PeriodicTasks.update_changed()
                if dry_run:
                    transaction.set_rollback(True)
            break
        except IntegrityError:
            if attempt == 2:
                raise
            logger.info("schedule sync raced another one (a second beat starting?); trying again")
    if report.changed and not dry_run:
        logger.info("system schedules synced: created %s, updated %s, removed %s",
                    report.created, sorted(report.updated), report.removed)
    return report


_TIMING_FIELDS = ("frequency", "cron", "interval_seconds", "timezone", "enabled")


def _sync_once(definitions: list[Any], now: datetime) -> SyncReport:
    report = SyncReport()
    existing = {row.name: row for row in
                ScheduledJob.objects.select_for_update(of=("self",)).filter(kind=ScheduleKind.SYSTEM)
                .select_related("periodic_task__interval", "periodic_task__crontab")}
    for definition in definitions:
        values = _system_row_values(definition)
        row = existing.pop(definition.name, None)
        if row is None:
            row = ScheduledJob(kind=ScheduleKind.SYSTEM, name=definition.name, created_at=now, updated_at=now,
                               **values)
            row.next_run_at = _first_run(row, now) if row.is_active else None
            row.save(force_insert=True)
            _beat_apply(row, _beat_state(row))
            report.created.append(definition.name)
            continue
        changed = [key for key, value in values.items() if getattr(row, key) != value]
        retime = any(key in changed for key in _TIMING_FIELDS)
        if changed:
            for key, value in values.items():
                setattr(row, key, value)
        if retime or (row.is_active and row.next_run_at is None and not row.fires_through_task):
            next_run_at = _first_run(row, now) if row.is_active else None
            if next_run_at != row.next_run_at:
                row.next_run_at = next_run_at
                changed.append("next_run_at")
        if changed:
            row.updated_at = now
            row.save()
        beat_changes = _beat_apply(row, _beat_state(row))
        changed += [f"beat.{key}" for key in beat_changes]
        if changed:
            report.updated[definition.name] = sorted(set(changed))
        else:
            report.unchanged.append(definition.name)
    for name, row in existing.items():
        # a system schedule that left the list: it goes, with its PeriodicTask
        if row.periodic_task_id is not None:
            PeriodicTask.objects.filter(pk=row.periodic_task_id).delete()
        row.delete()
        report.removed.append(name)
    return report
