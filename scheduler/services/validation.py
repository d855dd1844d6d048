"""What a user schedule may hold: its fields checked and normalized before anything is stored.

Each refusal is a ScheduleValidationError naming the field as the API calls it (`cron`,
`timeOfDay`, `jobType`...) and showing the bad value. The checks run in a fixed order, so
the first bad field is the one reported. The fields a frequency does not use are cleared: a
field that does not apply is an error when the caller gave it, dropped when only inherited
from the stored schedule (a PATCH that switches a daily schedule to cron keeps working).
"""
from __future__ import annotations

import re
from datetime import time
from typing import Any

from django.conf import settings

from handlers.registry import get_handler, registered_types
from jobs.conf import conf
from jobs.errors import JobValidationError
from jobs.models import Organization
from jobs.selectors import may_use_organization
from jobs.validation import check_input_schema, is_int, is_number, validated_input
from scheduler.errors import ScheduleValidationError
from scheduler.models import CatchUp, Frequency, Overlap, ScheduledJob, ScheduleKind, Weekday
from scheduler.timetable import TimetableError, parse_cron, parse_timezone

# The fields of a user schedule that its owner may set (the names of the model's fields).
FIELDS = ("name", "job_type", "input", "frequency", "cron", "time_of_day", "weekday", "day_of_month",
          "interval_seconds", "timezone", "enabled", "overlap", "catch_up", "organization", "description")

# The fields that say when a schedule runs: a change to one of them moves its next run.
TIMING_FIELDS = ("frequency", "cron", "time_of_day", "weekday", "day_of_month", "interval_seconds", "timezone",
                 "enabled")

# Which timing fields each frequency uses; the others are cleared.
_NEEDS: dict[str, frozenset[str]] = {
    Frequency.DAILY: frozenset({"time_of_day"}),
    Frequency.WEEKLY: frozenset({"time_of_day", "weekday"}),
    Frequency.MONTHLY: frozenset({"time_of_day", "day_of_month"}),
    Frequency.CRON: frozenset({"cron"}),
    Frequency.INTERVAL: frozenset({"interval_seconds"}),
}
_TIMING_KEYS = ("time_of_day", "weekday", "day_of_month", "cron", "interval_seconds")
_API_NAMES = {"time_of_day": "timeOfDay", "weekday": "weekday", "day_of_month": "dayOfMonth", "cron": "cron",
              "interval_seconds": "intervalSeconds"}

_WEEKDAY_NAMES = {label.lower(): value for value, label in Weekday.choices}
_WEEKDAY_NAMES.update({label.lower()[:3]: value for value, label in Weekday.choices})
_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(00))?\s*$")


def validated_schedule(values: dict[str, Any], *, owner: Any, explicit: set[str],
                       current: ScheduledJob | None = None) -> dict[str, Any]:
    """A user schedule's definition, checked and normalized. `explicit` are the fields the
    caller gave; `current` is the stored schedule when updating (its own name is no clash).
    Raises ScheduleValidationError naming the first bad field."""
    data = dict(values)
    _check_name_and_description(data)
    _check_job_type_and_input(data)
    _check_frequency_and_zone(data)
    _clear_unused_timing(data, explicit)
    _check_timing(data)
    _check_policies(data)
    _check_organization(data, owner)
    _check_unique_name(data, owner, current)
    return data


def _check_name_and_description(data: dict[str, Any]) -> None:
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 100:
        raise ScheduleValidationError("name", "must be 1 to 100 characters")
    data["name"] = name.strip()
    description = data.get("description") or ""
    if not isinstance(description, str) or len(description) > 500:
        raise ScheduleValidationError("description", "must be text of at most 500 characters")
    data["description"] = description


def _check_job_type_and_input(data: dict[str, Any]) -> None:
    job_type = data.get("job_type")
    spec = get_handler(job_type) if isinstance(job_type, str) else None
    if spec is None or not spec.tracked:
        listed = ", ".join(registered_types(tracked=True)) or "none"
        why = "is not a registered type"
        if spec is not None:
            why = "is an untracked job, which only system schedules start"
        raise ScheduleValidationError("jobType", f"{job_type!r} {why}; types a schedule may start: {listed}")
    data["input"] = _validated_input(spec, data.get("input"))


def _validated_input(spec: Any, value: Any) -> dict[str, Any]:
    """The input as the job services will check it when the schedule fires: a JSON object
    within the size limit that fits the type's schema; refused now rather than at 03:00."""
    try:
        payload = validated_input(value)
        check_input_schema(spec, payload)
    except JobValidationError as exc:
        raise ScheduleValidationError(exc.field, exc.detail) from None
    return payload


def _check_frequency_and_zone(data: dict[str, Any]) -> None:
    frequency = data.get("frequency")
    if frequency not in Frequency.values:
        raise ScheduleValidationError("frequency", f"{frequency!r} is not one of {', '.join(Frequency.values)}")
    zone_name = data.get("timezone") or settings.TIME_ZONE
    try:
        parse_timezone(zone_name)
    except TimetableError as exc:
        raise ScheduleValidationError("timezone", str(exc)) from None
    data["timezone"] = zone_name.strip()


def _clear_unused_timing(data: dict[str, Any], explicit: set[str]) -> None:
    """Require the timing fields the frequency uses; clear the others (refusing them when the
    caller gave them)."""
    frequency = data["frequency"]
    needs = _NEEDS[frequency]
    for key in _TIMING_KEYS:
        given = data.get(key) not in (None, "")
        if key in needs and not given:
            raise ScheduleValidationError(_API_NAMES[key], f"is required for a {frequency} schedule")
        if key not in needs:
            if given and key in explicit:
                raise ScheduleValidationError(_API_NAMES[key], f"does not apply to a {frequency} schedule")
            data[key] = "" if key == "cron" else None


def _check_timing(data: dict[str, Any]) -> None:
    """Normalize the timing fields the frequency uses (the others are cleared by now)."""
    needs = _NEEDS[data["frequency"]]
    if "time_of_day" in needs:
        data["time_of_day"] = _parse_time(data["time_of_day"])
    if "weekday" in needs:
        data["weekday"] = _parse_weekday(data["weekday"])
    if "day_of_month" in needs:
        _check_day_of_month(data["day_of_month"])
    if "cron" in needs:
        data["cron"] = _normalized_cron(data["cron"])
    if "interval_seconds" in needs:
        data["interval_seconds"] = _interval_seconds(data["interval_seconds"])


def _parse_time(value: Any) -> time:
    if isinstance(value, time):
        if value.second or value.microsecond:
            raise ScheduleValidationError("timeOfDay",
                                          f"{value.isoformat()} has seconds; schedules run on whole minutes")
        return value.replace(tzinfo=None)
    match = _TIME.match(value) if isinstance(value, str) else None
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ScheduleValidationError("timeOfDay", f"{value!r} is not a time of day; write HH:MM, e.g. '03:00'")
    return time(int(match.group(1)), int(match.group(2)))


def _parse_weekday(value: Any) -> int:
    if isinstance(value, str) and value.strip().lower() in _WEEKDAY_NAMES:
        return _WEEKDAY_NAMES[value.strip().lower()]
    if is_int(value) and 0 <= value <= 6:
        return value
    raise ScheduleValidationError("weekday", f"{value!r} is not a weekday; give 0 (Monday) to 6 (Sunday) or a "
                                             "name such as 'monday'")


def _check_day_of_month(day: Any) -> None:
    # 28 at most: a monthly schedule runs every month, and February has 28 days
    if not (is_int(day) and 1 <= day <= 28):
        raise ScheduleValidationError("dayOfMonth", f"{day!r}: give 1 to 28, days every month has (use a cron "
                                                    "expression for the 29th to the 31st)")


def _normalized_cron(expression: Any) -> str:
    if not isinstance(expression, str):
        raise ScheduleValidationError("cron", f"must be a string of five fields, got {expression!r}")
    try:
        parse_cron(expression)
    except TimetableError as exc:
        raise ScheduleValidationError("cron", str(exc)) from None
    return " ".join(expression.split())


def _interval_seconds(seconds: Any) -> float:
    minimum = conf.schedule_min_interval
    if not (is_number(seconds) and seconds >= minimum):
        raise ScheduleValidationError("intervalSeconds", f"{seconds!r}: give a number of seconds >= {minimum:g} "
                                                         "(JOBS_SCHEDULE_MIN_INTERVAL)")
    return float(seconds)


def _check_policies(data: dict[str, Any]) -> None:
    """The overlap and catch-up policies (their first choice by default) and the switch."""
    for key, choices, api in (("overlap", Overlap, "overlap"), ("catch_up", CatchUp, "catchUp")):
        value = data.get(key) or choices.values[0]
        if value not in choices.values:
            raise ScheduleValidationError(api, f"{value!r} is not one of {', '.join(choices.values)}")
        data[key] = value
    if not isinstance(data.get("enabled", True), bool):
        raise ScheduleValidationError("enabled", f"must be true or false, got {data.get('enabled')!r}")
    data.setdefault("enabled", True)


def _check_organization(data: dict[str, Any], owner: Any) -> None:
    """A schedule may belong to an organization its owner is a member of (staff: any)."""
    organization = data.get("organization")
    if organization is None:
        return
    if not isinstance(organization, Organization):
        raise ScheduleValidationError("organizationId", f"{organization!r} is not an organization")
    if not may_use_organization(user=owner, organization_id=organization.pk):
        raise ScheduleValidationError(
            "organizationId", f"user {owner.pk} is not a member of organization {organization.pk} ({organization.slug})"
        )


def _check_unique_name(data: dict[str, Any], owner: Any, current: ScheduledJob | None) -> None:
    same_name = ScheduledJob.objects.filter(kind=ScheduleKind.USER, owner=owner, name=data["name"])
    if current is not None:
        same_name = same_name.exclude(pk=current.pk)
    if same_name.exists():
        raise ScheduleValidationError("name", f"user {owner.pk} already has a schedule named {data['name']!r}")
