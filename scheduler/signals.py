"""Beat start-up: sync the system schedules before the first tick.

A `beat_init` receiver rather than code in the project's scheduler class: it runs whichever
scheduler class beat is started with (`-S scheduler.beat_scheduler:BeatScheduler` in the
Procfile, the systemd unit, docker-compose and the test suite's processes), so no deployment
has to change how it starts beat.

The scheduler has read its table already when the signal comes, and django-celery-beat only
reloads when the change stamp (`PeriodicTasks`) is newer than the first stamp it saw: the
first look happens at its first tick, after this sync, so the sync's own change would go
unnoticed until the five-minute full reload (no rescuer for five minutes after a deploy).
The receiver lets the scheduler take its first look before syncing.
"""
from __future__ import annotations

import logging
from typing import Any

from celery.signals import beat_init
from django_celery_beat.models import PeriodicTasks

from scheduler.errors import ScheduleConfigurationError
from scheduler.services import schedules_sync

logger = logging.getLogger("conveyor.scheduler")


@beat_init.connect
def sync_system_schedules_at_beat_start(sender: Any = None, **kwargs: Any) -> None:
    try:
        _take_first_look(sender)
        report = schedules_sync()
    except ScheduleConfigurationError as exc:
        # a wrong list must not run silently on yesterday's schedules: beat stops, saying why
        # (Celery logs and swallows an Exception from a receiver; SystemExit gets through)
        logger.critical("beat refuses to start: %s", exc)
        raise SystemExit(f"beat refuses to start: {exc}") from None
    except Exception:
        # the database is down at start-up: beat runs on the schedules already stored
        logger.exception("system schedules not synced at beat start; beat runs on the stored ones")
        return
    logger.info(
        "system schedules synced at beat start: %s created, %s updated, %s removed, %s unchanged",
        len(report.created), len(report.updated), len(report.removed), len(report.unchanged),
    )


def _take_first_look(service: Any) -> None:
    """Make the running scheduler record the current change stamp (creating one on a fresh
    database), so that the sync's `update_changed()` is newer and read at the next tick."""
    schedule_changed = getattr(getattr(service, "scheduler", None), "schedule_changed", None)
    if callable(schedule_changed):  # DatabaseScheduler and its subclasses
        PeriodicTasks.update_changed()
        schedule_changed()
