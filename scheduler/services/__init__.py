"""Every write to a schedule, and every tick it fires, goes through here.

A package split by concern; import the verbs from here (`from scheduler import services`):

  validation  a user schedule's fields, checked and normalized, each error naming the API's
              field (`cron`, `timeOfDay`, ...)
  editing     create, update and delete a user's schedule (system schedules are code)
  pausing     pause and resume, either kind
  firing      claim a tick once and start its job; the overdue check; run now
  sync        the code's system schedules (`scheduler.system`) made true in the database
  beat        each schedule's django-celery-beat PeriodicTask, written in the same
              transaction as the schedule: beat sends `scheduler.fire_schedule(schedule_id)`
              when its crontab or interval says so
  timing      which tick is due: first run, early tolerance, catch-up over missed ticks

Reads are in `scheduler.selectors`, which imports nothing from here.
"""
from __future__ import annotations

from scheduler.models import ScheduledJob
from scheduler.services.beat import FIRE_TASK
from scheduler.services.editing import schedule_create, schedule_delete, schedule_update
from scheduler.services.firing import (
    OVERDUE_AFTER,
    FireResult,
    schedule_fire,
    schedule_run_now,
    schedules_fire_overdue,
)
from scheduler.services.pausing import schedule_pause, schedule_resume
from scheduler.services.sync import SyncReport, schedules_sync
from scheduler.services.timing import EARLY_TOLERANCE
from scheduler.timetable import Timetable

__all__ = [
    "EARLY_TOLERANCE",
    "FIRE_TASK",
    "OVERDUE_AFTER",
    "FireResult",
    "SyncReport",
    "schedule_create",
    "schedule_delete",
    "schedule_fire",
    "schedule_pause",
    "schedule_resume",
    "schedule_run_now",
    "schedule_timetable",
    "schedule_update",
    "schedules_fire_overdue",
    "schedules_sync",
]


def schedule_timetable(*, schedule: ScheduledJob) -> Timetable:
    """Older name: a schedule's run times, now `schedule.timetable()`."""
    return schedule.timetable()
