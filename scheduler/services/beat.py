"""The django-celery-beat PeriodicTask beside each schedule, kept in step with it.

Beat only decides when to ask: a schedule's PeriodicTask sends `scheduler.fire_schedule`
with the schedule's id (or, for a task schedule, the task itself), and the schedule's row
decides which tick is due. Every write of a schedule calls `beat_update` in its transaction.
"""
from __future__ import annotations

import json
import math
from datetime import timedelta
from typing import Any

from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask, PeriodicTasks

from jobs.conf import conf
from scheduler.models import Frequency, ScheduledJob
from scheduler.timetable import parse_cron

FIRE_TASK = "scheduler.fire_schedule"


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


def beat_state(schedule: ScheduledJob) -> dict[str, Any]:
    """What the schedule's PeriodicTask must say, as comparable values."""
    if schedule.frequency == Frequency.INTERVAL:
        when: tuple[Any, ...] = ("interval", float(schedule.interval_seconds or 0))
    else:
        when = ("crontab", schedule.cron_expression(), schedule.timezone)
    task = schedule.task or FIRE_TASK
    return {
        "task": task,
        "kwargs": {} if schedule.task else {"schedule_id": schedule.pk},
        "queue": conf.system_queue,
        "enabled": schedule.is_active,
        # a task's tick that no worker took before the next one is worth nothing (the rescuer)
        "expire_seconds": math.ceil(schedule.interval_seconds or 0)
        if schedule.task and schedule.frequency == Frequency.INTERVAL else None,
        "description": (schedule.description or f"{schedule.kind} schedule {schedule.name}")[:500],
        "when": when,
    }


def _beat_state_of(task: PeriodicTask) -> dict[str, Any]:
    """What a PeriodicTask says, as the same comparable values as `beat_state`."""
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


def beat_apply(schedule: ScheduledJob, desired: dict[str, Any]) -> list[str]:
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
        if schedule.periodic_task_id != task.pk:
            _link(schedule, task)
        return []
    task = task or PeriodicTask(name=name)
    _write_task(task, name, desired)
    if schedule.periodic_task_id != task.pk:
        _link(schedule, task)
    return changed


def _write_task(task: PeriodicTask, name: str, desired: dict[str, Any]) -> None:
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


def _link(schedule: ScheduledJob, task: PeriodicTask | None) -> None:
    ScheduledJob.objects.filter(pk=schedule.pk).update(periodic_task=task)
    schedule.periodic_task = task


def beat_update(schedule: ScheduledJob) -> None:
    """Bring the schedule's PeriodicTask in step, and tell running beats when it changed."""
    if beat_apply(schedule, beat_state(schedule)):
        PeriodicTasks.update_changed()


def beat_remove(schedule: ScheduledJob) -> None:
    """Delete the schedule's PeriodicTask, if it has one (the caller tells beat)."""
    if schedule.periodic_task_id is not None:
        PeriodicTask.objects.filter(pk=schedule.periodic_task_id).delete()
