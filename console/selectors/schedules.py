"""The schedules panel: each schedule's last and next tick, and the ticks it missed or fired late.

A schedule that creates jobs claims its ticks in its own row (`scheduler.models`): its next tick
is `next_run_at`, the last one `last_run_at`, fired at `last_fired_at`. Its next tick is late
once SCHEDULE_LATE_AFTER past; it is missed (`schedules_overdue`, the metric's and the
notifications' rule) once JOBS_SCHEDULE_MISFIRE_GRACE past, and the ticks missed are counted from
its timetable. The last tick fired late when it fired SCHEDULE_LATE_AFTER after its time.

A core task schedule (the rescuer, the sweeper, the rollup) has no tick to claim: beat sends it
every few seconds. What it says of its last send is django-celery-beat's PeriodicTask.last_run_at,
which beat writes every few minutes only; so such a schedule is judged by beat's liveness: while
beat ticks it is sent, and when beat stopped, every interval since is a tick missed.

Bounded: the missed schedules first (at most SCHEDULES_LIMIT), then the others by kind and name,
up to SCHEDULES_LIMIT rows in all.
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from console import conf
from jobs.conf import conf as jobs_conf
from scheduler.models import Frequency, ScheduledJob
from scheduler.presenters import state, when_text
from scheduler.selectors import schedule_queryset, schedules_overdue
from telemetry import liveness

# counting missed ticks stops here (a cron every minute, down for a week)
MISSED_COUNT_CAP = 1000


def _ts(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


def missed_ticks(schedule: ScheduledJob, now: datetime) -> int:
    """Ticks from its next one up to now, none fired (capped at MISSED_COUNT_CAP)."""
    due = schedule.next_run_at
    if due is None or due > now:
        return 0
    if schedule.frequency == Frequency.INTERVAL:
        every = schedule.interval_seconds or 0
        count = math.floor((now - due).total_seconds() / every) + 1 if every > 0 else 1
        return min(count, MISSED_COUNT_CAP)
    count = 1  # the one at next_run_at
    for _ in schedule.timetable().between(due, now):
        count += 1
        if count >= MISSED_COUNT_CAP:
            break
    return count


def _row(schedule: ScheduledJob, now: datetime, beat_last_tick: float | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": schedule.pk, "kind": schedule.kind, "name": schedule.name,
        "starts": schedule.job_type or f"task {schedule.task}", "when": when_text(schedule),
        "state": state(schedule), "last_outcome": schedule.last_outcome, "last_message": schedule.last_message,
        "last_job_id": str(schedule.last_job_id) if schedule.last_job_id else None,
        "last_tick": _ts(schedule.last_run_at), "last_fired": _ts(schedule.last_fired_at),
        "next_tick": _ts(schedule.next_run_at), "late": 0.0, "missed": 0, "last_late": 0.0, "note": "",
    }
    if not schedule.is_active:
        row["next_tick"] = None
        return row
    if schedule.fires_through_task:
        return _task_row(row, schedule, now, beat_last_tick)
    if schedule.next_run_at is not None:
        late = (now - schedule.next_run_at).total_seconds()
        if late > conf.SCHEDULE_LATE_AFTER:
            row["late"] = late
        if late > jobs_conf.schedule_misfire_grace:
            row["missed"] = missed_ticks(schedule, now)
    if schedule.last_run_at is not None and schedule.last_fired_at is not None:
        fired_after = (schedule.last_fired_at - schedule.last_run_at).total_seconds()
        if fired_after > conf.SCHEDULE_LATE_AFTER:
            row["last_late"] = fired_after
    if schedule.last_outcome == "skipped_missed":
        row["note"] = "ticks were missed and skipped (catch-up off)"
    return row


def _task_row(row: dict[str, Any], schedule: ScheduledJob, now: datetime,
              beat_last_tick: float | None) -> dict[str, Any]:
    task = schedule.periodic_task
    every = schedule.interval_seconds or 0
    last_sent = task.last_run_at if task is not None else None
    row["last_tick"] = row["last_fired"] = _ts(last_sent)
    row["next_tick"] = _ts(last_sent + timedelta(seconds=every)) if last_sent is not None and every else None
    beat_silent = now.timestamp() - beat_last_tick if beat_last_tick is not None else None
    if beat_silent is None:
        row["note"] = "beat has not recorded a tick: task schedules are not sent"
    elif beat_silent > liveness.max_age():
        row["late"] = beat_silent
        row["missed"] = min(math.floor(beat_silent / every), MISSED_COUNT_CAP) if every else 1
        row["note"] = f"beat stopped ticking {beat_silent:.0f}s ago"
    else:
        row["note"] = "sent by beat (its last send is recorded every few minutes)"
    return row


def schedules_panel(*, beat_last_tick: float | None, now: datetime | None = None,
                    limit: int | None = None) -> dict[str, Any]:
    """The panel's rows, missed ones first, and whether there were more schedules."""
    now = now or timezone.now()
    limit = limit or conf.SCHEDULES_LIMIT
    overdue = list(schedules_overdue(now=now).select_related("periodic_task").order_by("next_run_at")[: limit + 1])
    seen = {schedule.pk for schedule in overdue}
    others = list(schedule_queryset().select_related("periodic_task").exclude(pk__in=seen)
                  .order_by("kind", "name", "pk")[: limit + 1])
    chosen = (overdue + others)[:limit]
    return {
        "rows": [_row(schedule, now, beat_last_tick) for schedule in chosen],
        "more": len(overdue) + len(others) > limit,
        "overdue": len(overdue),
    }
