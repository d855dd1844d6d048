"""How a schedule looks to a person or a program: one dict shape (the `--json` output, and the
shape the API's schedule resource can take) and the table rows of `manage.py schedules list`.
Names are the API's camelCase; times are ISO 8601 in UTC."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from jobs.presenters import iso
from scheduler.models import Frequency, ScheduledJob, Weekday


def state(schedule: ScheduledJob) -> str:
    if not schedule.enabled:
        return "disabled"
    return "paused" if schedule.paused else "active"


def when_text(schedule: ScheduledJob) -> str:
    """The timetable in words: 'daily 03:00 Europe/Paris', 'every 15s', 'cron 0 * * * * UTC'."""
    if schedule.frequency == Frequency.INTERVAL:
        return f"every {schedule.interval_seconds:g}s"
    at = schedule.time_of_day.strftime("%H:%M") if schedule.time_of_day else ""
    if schedule.frequency == Frequency.DAILY:
        return f"daily {at} {schedule.timezone}"
    if schedule.frequency == Frequency.WEEKLY:
        return f"weekly {Weekday(schedule.weekday or 0).label} {at} {schedule.timezone}"
    if schedule.frequency == Frequency.MONTHLY:
        return f"monthly on day {schedule.day_of_month} {at} {schedule.timezone}"
    return f"cron {schedule.cron} {schedule.timezone}"


def schedule_to_dict(schedule: ScheduledJob, *, upcoming: list[datetime] | None = None) -> dict[str, Any]:
    """A schedule as one JSON-able object; `nextRuns` when the caller computed them."""
    data: dict[str, Any] = {
        "id": schedule.pk,
        "kind": schedule.kind,
        "name": schedule.name,
        "description": schedule.description,
        "ownerId": schedule.owner_id,
        "organizationId": schedule.organization_id,
        "jobType": schedule.job_type or None,
        "task": schedule.task or None,
        "input": schedule.input,
        "frequency": schedule.frequency,
        "cron": schedule.cron_expression() or None,
        "timeOfDay": schedule.time_of_day.strftime("%H:%M") if schedule.time_of_day else None,
        "weekday": schedule.weekday,
        "dayOfMonth": schedule.day_of_month,
        "intervalSeconds": schedule.interval_seconds,
        "timezone": schedule.timezone,
        "enabled": schedule.enabled,
        "paused": schedule.paused,
        "state": state(schedule),
        "overlap": schedule.overlap,
        "catchUp": schedule.catch_up,
        "nextRunAt": iso(schedule.next_run_at),
        "lastRunAt": iso(schedule.last_run_at),
        "lastFiredAt": iso(schedule.last_fired_at),
        "lastJobId": str(schedule.last_job_id) if schedule.last_job_id else None,
        "lastOutcome": schedule.last_outcome or None,
        "lastMessage": schedule.last_message or None,
        "runCount": schedule.run_count,
        "createdAt": iso(schedule.created_at),
        "updatedAt": iso(schedule.updated_at),
    }
    if upcoming is not None:
        data["nextRuns"] = [iso(moment) for moment in upcoming]
    return data


SCHEDULE_LIST_HEADERS = ("ID", "KIND", "NAME", "STARTS", "WHEN", "STATE", "NEXT RUN (UTC)", "LAST OUTCOME")


def schedule_list_row(schedule: ScheduledJob) -> tuple[Any, ...]:
    return (
        schedule.pk,
        schedule.kind,
        schedule.name,
        schedule.job_type or f"task {schedule.task}",
        when_text(schedule),
        state(schedule),
        schedule.next_run_at,
        schedule.last_outcome or None,
    )


# The API's writable names -> the keyword of `schedule_create` / `schedule_update`; errors
# come back with these API names in `exc.field`. organizationId needs resolving to an
# Organization (and checking the requester's membership) before the service call.
WRITABLE_FIELDS: dict[str, str] = {
    "name": "name",
    "description": "description",
    "jobType": "job_type",
    "input": "input",
    "frequency": "frequency",
    "cron": "cron",
    "timeOfDay": "time_of_day",
    "weekday": "weekday",
    "dayOfMonth": "day_of_month",
    "intervalSeconds": "interval_seconds",
    "timezone": "timezone_name",
    "enabled": "enabled",
    "overlap": "overlap",
    "catchUp": "catch_up",
    "organizationId": "organization",
}
