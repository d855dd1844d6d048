"""Which tick of a schedule is due: its first run, the tick a message may claim, the next one.

The run times come from the schedule's timetable (`ScheduledJob.timetable()`); these
functions decide, from the stored `next_run_at` and the clock, what one firing claims.
"""
from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from scheduler.models import Frequency, ScheduledJob

# A beat host's clock may run a little ahead of the worker's: a message this early still
# takes its tick (for an interval, at most 40% of the interval).
EARLY_TOLERANCE = 2.0


def iso(moment: datetime) -> str:
    """An instant as the schedules' messages and dedup keys write it (UTC, `Z`)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def first_run(schedule: ScheduledJob, now: datetime) -> datetime | None:
    """The first tick after `now`; None for a task schedule, which beat fires by itself."""
    if schedule.fires_through_task:
        return None  # beat sends the task itself; there is no tick to claim
    if schedule.frequency == Frequency.INTERVAL:
        return now + timedelta(seconds=schedule.interval_seconds or 0)
    return schedule.timetable().next_after(now)


def tolerance(schedule: ScheduledJob) -> float:
    """How early (seconds) a message may come and still take its tick."""
    if schedule.frequency == Frequency.INTERVAL:
        return min(EARLY_TOLERANCE, 0.4 * (schedule.interval_seconds or 0))
    return EARLY_TOLERANCE


def due_tick(schedule: ScheduledJob, expected: datetime, now: datetime) -> tuple[datetime, datetime | None, bool]:
    """(the tick to fire: the latest due one, the next unfired tick, whether ticks were missed)."""
    horizon = now + timedelta(seconds=tolerance(schedule))
    if schedule.frequency == Frequency.INTERVAL:
        every = schedule.interval_seconds or 0
        missed = math.floor(max(0.0, (now - expected).total_seconds()) / every)
        tick = expected + timedelta(seconds=missed * every)
        # every N seconds after this run, as beat's interval counts
        return tick, max(now, expected) + timedelta(seconds=every), missed > 0
    table = schedule.timetable()
    latest = table.latest_at_or_before(horizon)
    tick = latest if latest is not None and latest > expected else expected
    return tick, table.next_after(max(horizon, tick)), tick != expected
