"""The system schedules' sync: the code's list (`scheduler.system`) made true in the database.

It upserts the system schedules by name, removes the system schedules that left the list,
never reads or writes a user's schedule, and tells running beats with
`PeriodicTasks.update_changed()`. An operator's pause survives it (it writes `enabled`, never
`paused`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django_celery_beat.models import PeriodicTasks

from jobs.conf import conf
from scheduler import system
from scheduler.errors import ScheduleConfigurationError
from scheduler.models import Frequency, ScheduledJob, ScheduleKind
from scheduler.services.beat import beat_apply, beat_remove, beat_state
from scheduler.services.timing import first_run

logger = logging.getLogger("conveyor.scheduler")

# The fields of a system schedule whose change moves its next run.
_TIMING_FIELDS = ("frequency", "cron", "interval_seconds", "timezone", "enabled")


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


def schedules_sync(*, definitions: list[Any] | None = None, dry_run: bool = False,
                   now: datetime | None = None) -> SyncReport:
    """Make the system schedules in the database (and beat's PeriodicTasks) match the list.

    Raises ScheduleConfigurationError, changing nothing, when the list has a problem. Two
    beats starting at once may race on a new name: the loser's transaction is retried and
    then finds the row.
    """
    # read at call time: a test (or a deployment's settings) may replace the list
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


def _system_row_values(definition: Any) -> dict[str, Any]:
    enabled = definition.enabled and definition.name not in conf.schedules_disabled
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


def _sync_once(definitions: list[Any], now: datetime) -> SyncReport:
    report = SyncReport()
    existing = {row.name: row for row in
                ScheduledJob.objects.select_for_update(of=("self",)).filter(kind=ScheduleKind.SYSTEM)
                .select_related("periodic_task__interval", "periodic_task__crontab")}
    for definition in definitions:
        values = _system_row_values(definition)
        row = existing.pop(definition.name, None)
        if row is None:
            _create_row(definition.name, values, now)
            report.created.append(definition.name)
            continue
        changed = _update_row(row, values, now)
        if changed:
            report.updated[definition.name] = sorted(set(changed))
        else:
            report.unchanged.append(definition.name)
    for name, row in existing.items():
        # a system schedule that left the list: it goes, with its PeriodicTask
        beat_remove(row)
        row.delete()
        report.removed.append(name)
    return report


def _create_row(name: str, values: dict[str, Any], now: datetime) -> None:
    row = ScheduledJob(kind=ScheduleKind.SYSTEM, name=name, created_at=now, updated_at=now, **values)
    row.next_run_at = first_run(row, now) if row.is_active else None
    row.save(force_insert=True)
    beat_apply(row, beat_state(row))


def _update_row(row: ScheduledJob, values: dict[str, Any], now: datetime) -> list[str]:
    """Make a stored system schedule say `values`; the names of what changed (its
    PeriodicTask's as `beat.<field>`)."""
    changed = [key for key, value in values.items() if getattr(row, key) != value]
    retime = any(key in changed for key in _TIMING_FIELDS)
    for key in changed:
        setattr(row, key, values[key])
    if retime or (row.is_active and row.next_run_at is None and not row.fires_through_task):
        next_run_at = first_run(row, now) if row.is_active else None
        if next_run_at != row.next_run_at:
            row.next_run_at = next_run_at
            changed.append("next_run_at")
    if changed:
        row.updated_at = now
        row.save()
    changed += [f"beat.{key}" for key in beat_apply(row, beat_state(row))]
    return changed
