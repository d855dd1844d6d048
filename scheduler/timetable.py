"""When a schedule is due: the run times of a cron expression or an interval, in a time zone.

This is the computation the scheduler fires by (`scheduler.services.schedule_fire` claims the
tick it names); beat's own crontab only decides when to ask. It knows nothing of Django models.

1. A cron expression has five fields (minute hour day-of-month month day-of-week, 0 = Sunday),
   parsed field by field with Celery's own parser, so that beat's CrontabSchedule reads exactly
   the same sets; `@hourly`, `@daily`, `@weekly`, `@monthly` and `@yearly` are accepted.
2. Cron fields are wall-clock times in the schedule's zone. For each matching day, each
   matching time becomes an instant:
   - a time that does not exist that day (the spring-forward gap: 02:30 in Paris on the last
     Sunday of March) runs once, at the instant the old offset gives it (03:30 CEST), as
     Python (PEP 495, fold=0) and Celery's crontab both map it;
   - a time that happens twice (the autumn fall-back: 02:30 on the last Sunday of October)
     runs once, at its first occurrence, unless the hour field is "every hour": then both
     occurrences are real, distinct hours of that day and both run.
   A daily job at a fixed time therefore runs exactly once on each change day.
3. An interval schedule runs every N seconds after its previous run (like Celery's interval
   schedule): its ticks are anchored on the stored next run, not on a calendar.
4. Day-of-month and day-of-week may not both be restricted: cron ORs them where Celery's
   crontab ANDs them, and a schedule must mean the same thing to both.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from celery.schedules import crontab_parser

from jobs.validation import is_number

# How far ahead (and back) a search for a matching day goes: covers Feb 29 and every rare
# combination of day and month a valid expression can name.
_SEARCH_DAYS = 366 * 8 + 2

ALIASES: dict[str, str] = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}

# (name, Celery parser's max, min) of the five fields, in cron order
_FIELDS = (
    ("minute", 60, 0),
    ("hour", 24, 0),
    ("day of month", 31, 1),
    ("month", 12, 1),
    ("day of week", 7, 0),
)


class TimetableError(ValueError):
    """A cron expression, interval or time zone that cannot be used; the message says why."""


@dataclass(frozen=True)
class CronSpec:
    """A parsed cron expression: the raw fields (for beat's CrontabSchedule) and their sets."""

    minute: str
    hour: str
    day_of_month: str
    month_of_year: str
    day_of_week: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]  # 0 = Sunday, as cron and Celery

    @property
    def expression(self) -> str:
        return " ".join((self.minute, self.hour, self.day_of_month, self.month_of_year, self.day_of_week))

    @property
    def every_hour(self) -> bool:
        return len(self.hours) == 24

    def matches_day(self, day: date) -> bool:
        # one of the two day fields is "*" (parse_cron refuses both), so AND is cron's meaning
        return (
            day.month in self.months
            and day.day in self.days_of_month
            and (day.weekday() + 1) % 7 in self.days_of_week
        )

    def times(self) -> list[tuple[int, int]]:
        return [(h, m) for h in sorted(self.hours) for m in sorted(self.minutes)]


def parse_cron(expression: str) -> CronSpec:
    """Parse five cron fields (or an @alias); TimetableError names the bad field."""
    if not isinstance(expression, str) or not expression.strip():
        raise TimetableError("is empty: write five fields, minute hour day-of-month month day-of-week")
    text = ALIASES.get(expression.strip().lower(), expression.strip())
    parts = text.split()
    if len(parts) != 5:
        raise TimetableError(
            f"{expression!r} has {len(parts)} field(s); write five: minute hour day-of-month month "
            "day-of-week (for example '0 3 * * *' for 03:00 every day)"
        )
    sets: list[frozenset[int]] = []
    for (name, maximum, minimum), raw in zip(_FIELDS, parts):
        try:
            values = frozenset(crontab_parser(maximum, minimum).parse(raw))
        except (ValueError, TypeError, IndexError) as exc:
            hint = " (0-6, 0 = Sunday, or sun-sat)" if name == "day of week" else ""
            raise TimetableError(f"{expression!r}: the {name} field {raw!r} is invalid{hint}: {exc}") from None
        if not values:
            raise TimetableError(f"{expression!r}: the {name} field {raw!r} matches nothing")
        sets.append(values)
    minute, hour, day_of_month, month_of_year, day_of_week = parts
    spec = CronSpec(minute, hour, day_of_month, month_of_year, day_of_week, *sets)
    if len(spec.days_of_month) < 31 and len(spec.days_of_week) < 7:
        raise TimetableError(
            f"{expression!r} restricts both the day of month and the day of week; cron would run on "
            "either, Celery's crontab only on both: restrict one of them"
        )
    if not _any_day_matches(spec):
        raise TimetableError(f"{expression!r} never matches a date (day of month {spec.day_of_month} "
                             f"in month {spec.month_of_year})")
    return spec


def _any_day_matches(spec: CronSpec) -> bool:
    day = date(2024, 1, 1)  # a leap year, and the years after it
    return any(spec.matches_day(day + timedelta(days=n)) for n in range(366 * 4 + 1))


def parse_timezone(name: str) -> ZoneInfo:
    """The zone named `name` (an IANA name such as Europe/Paris); TimetableError if unknown."""
    if not isinstance(name, str) or not name.strip():
        raise TimetableError("is empty: name an IANA time zone such as Europe/Paris or UTC")
    try:
        zone = ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        zone = None
    if zone is None or name.strip() not in _zone_names():
        raise TimetableError(f"{name!r} is not a known time zone (an IANA name such as Europe/Paris or UTC)")
    return zone


_ZONES: set[str] | None = None


def _zone_names() -> set[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = set(available_timezones()) | {"UTC"}
    return _ZONES


def wall_instants(day: date, at: time, zone: ZoneInfo, *, both_folds: bool) -> list[datetime]:
    """The instants (UTC) at which the wall-clock time `at` of `day` happens in `zone`.

    Usually one. In a spring-forward gap, one: the time shifted forward by the gap. In an
    autumn fold, the first occurrence, or both when `both_folds`.
    """
    first = datetime.combine(day, at, tzinfo=zone)  # fold=0
    second = first.replace(fold=1)
    if first.utcoffset() == second.utcoffset():
        return [first.astimezone(UTC)]
    exists = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == first.replace(tzinfo=None)
    if not exists:
        # the gap: fold=0 reads the time with the offset from before the change
        return [first.astimezone(UTC)]
    instants = [first.astimezone(UTC)]
    if both_folds:
        instants.append(second.astimezone(UTC))
    return sorted(instants)


@dataclass(frozen=True)
class Timetable:
    """The run times of one schedule: either a cron spec in a zone, or an interval."""

    zone: ZoneInfo
    cron: CronSpec | None = None
    interval: float | None = None  # seconds

    @classmethod
    def for_cron(cls, expression: str, zone: str | ZoneInfo) -> Timetable:
        tz = zone if isinstance(zone, ZoneInfo) else parse_timezone(zone)
        return cls(zone=tz, cron=parse_cron(expression))

    @classmethod
    def for_interval(cls, seconds: float) -> Timetable:
        if not (is_number(seconds) and seconds > 0):
            raise TimetableError(f"an interval must be a positive number of seconds, got {seconds!r}")
        return cls(zone=ZoneInfo("UTC"), interval=float(seconds))

    # --- the run times -----------------------------------------------------------------------

    def _day_instants(self, day: date) -> list[datetime]:
        assert self.cron is not None
        if not self.cron.matches_day(day):
            return []
        both = self.cron.every_hour
        found: set[datetime] = set()
        for hour, minute in self.cron.times():
            found.update(wall_instants(day, time(hour, minute), self.zone, both_folds=both))
        # a gap time shifted forward may land on a real time of the same day: one tick
        return sorted(found)

    def next_after(self, moment: datetime, *, anchor: datetime | None = None) -> datetime | None:
        """The first run strictly after `moment` (aware). For an interval, the runs are
        anchor + k * interval, k >= 0; None if a cron expression never runs again."""
        _require_aware(moment)
        if self.interval is not None:
            base = anchor or moment
            if moment < base:
                return base.astimezone(UTC)  # the runs are anchor + k * interval, k >= 0
            steps = math.floor((moment - base).total_seconds() / self.interval) + 1
            result = base + timedelta(seconds=steps * self.interval)
            while result <= moment:  # float rounding
                result += timedelta(seconds=self.interval)
            return result.astimezone(UTC)
        start = moment.astimezone(self.zone).date() - timedelta(days=1)
        for offset in range(_SEARCH_DAYS):
            day = start + timedelta(days=offset)
            later = [t for t in self._day_instants(day) if t > moment]
            if later:
                # a gap shift can push a day's last time past the next day's first one
                following = [t for t in self._day_instants(day + timedelta(days=1)) if t > moment]
                return min(later + following)
        return None

    def latest_at_or_before(self, moment: datetime, *, anchor: datetime | None = None) -> datetime | None:
        """The last run at or before `moment`, or None (for an interval: none before the anchor)."""
        _require_aware(moment)
        if self.interval is not None:
            base = anchor or moment
            if moment < base:
                return None
            steps = math.floor((moment - base).total_seconds() / self.interval)
            return (base + timedelta(seconds=steps * self.interval)).astimezone(UTC)
        start = moment.astimezone(self.zone).date() + timedelta(days=1)
        for offset in range(_SEARCH_DAYS):
            day = start - timedelta(days=offset)
            earlier = [t for t in self._day_instants(day) if t <= moment]
            if earlier:
                previous = [t for t in self._day_instants(day - timedelta(days=1)) if t <= moment]
                return max(earlier + previous)
        return None

    def upcoming(self, after: datetime, count: int, *, anchor: datetime | None = None) -> list[datetime]:
        """The next `count` runs strictly after `after`."""
        runs: list[datetime] = []
        moment = after
        for _ in range(count):
            nxt = self.next_after(moment, anchor=anchor)
            if nxt is None:
                break
            runs.append(nxt)
            moment = nxt
        return runs

    def between(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """Every run in (start, end], in order (for tests and previews; bounded by the caller)."""
        moment = start
        while True:
            nxt = self.next_after(moment, anchor=start if self.interval is not None else None)
            if nxt is None or nxt > end:
                return
            yield nxt
            moment = nxt


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise TimetableError(f"{moment!r} has no time zone: pass an aware datetime")
