"""Run times across the daylight-saving changes of Europe/Paris (2025-03-30, 02:00 -> 03:00;
2025-10-26, 03:00 -> 02:00), in the computation the scheduler fires by (`scheduler.timetable`)
and what django-celery-beat's own crontab does on those days, since beat decides when to ask.
Firing through `schedule_fire` over both change days is tests/integration/test_scheduler_timetable_firing.py.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django_celery_beat.tzcrontab import TzAwareCrontab

from config.celery import app
from scheduler.timetable import Timetable, TimetableError, parse_cron, parse_timezone, wall_instants

PARIS = ZoneInfo("Europe/Paris")
SPRING = date(2025, 3, 30)  # 02:00 CET -> 03:00 CEST: 02:xx does not exist
AUTUMN = date(2025, 10, 26)  # 03:00 CEST -> 02:00 CET: 02:xx happens twice


def runs_on(table: Timetable, day: date) -> list[datetime]:
    """Every run whose local date in Paris is `day`."""
    start = datetime.combine(day - timedelta(days=1), datetime.min.time(), tzinfo=PARIS)
    end = datetime.combine(day + timedelta(days=2), datetime.min.time(), tzinfo=PARIS)
    return [t for t in table.between(start, end) if t.astimezone(PARIS).date() == day]


def local(moment: datetime) -> str:
    return moment.astimezone(PARIS).strftime("%H:%M%z")


# --- the timetable ---------------------------------------------------------------------------


@pytest.mark.parametrize("day", [SPRING, AUTUMN], ids=["spring-forward", "fall-back"])
def test_a_daily_0300_job_runs_once_on_each_change_day(day: date) -> None:
    table = Timetable.for_cron("0 3 * * *", "Europe/Paris")
    runs = runs_on(table, day)
    assert len(runs) == 1
    assert runs[0].astimezone(PARIS).hour == 3 and runs[0].astimezone(PARIS).minute == 0
    # and once on the days around it, 24 h apart in wall-clock terms
    for other in (day - timedelta(days=1), day + timedelta(days=1)):
        assert [local(t)[:5] for t in runs_on(table, other)] == ["03:00"]


def test_a_daily_0230_job_runs_once_on_the_day_0230_does_not_exist() -> None:
    table = Timetable.for_cron("30 2 * * *", "Europe/Paris")
    runs = runs_on(table, SPRING)
    # 02:30 CET would be 01:30 UTC, which is 03:30 CEST: the gap's time, shifted by the gap
    assert [local(t) for t in runs] == ["03:30+0200"]
    assert runs[0] == datetime(2025, 3, 30, 1, 30, tzinfo=UTC)
    assert [local(t) for t in runs_on(table, SPRING + timedelta(days=1))] == ["02:30+0200"]


def test_a_daily_0230_job_runs_exactly_once_on_the_day_0230_happens_twice() -> None:
    table = Timetable.for_cron("30 2 * * *", "Europe/Paris")
    runs = runs_on(table, AUTUMN)
    assert [local(t) for t in runs] == ["02:30+0200"]  # the first 02:30, not the second (+0100)
    assert runs[0] == datetime(2025, 10, 26, 0, 30, tzinfo=UTC)
    assert [local(t) for t in runs_on(table, AUTUMN + timedelta(days=1))] == ["02:30+0100"]


def test_an_hourly_job_runs_every_real_hour_across_both_changes() -> None:
    table = Timetable.for_cron("0 * * * *", "Europe/Paris")
    assert len(runs_on(table, SPRING)) == 23  # a 23-hour day
    assert len(runs_on(table, AUTUMN)) == 25  # a 25-hour day: 02:00 CEST and 02:00 CET both run
    for day in (SPRING, AUTUMN):
        runs = runs_on(table, day)
        gaps = {b - a for a, b in zip(runs, runs[1:])}
        assert gaps == {timedelta(hours=1)}, day


def test_a_job_every_30_minutes_of_the_2am_hour_neither_skips_nor_doubles() -> None:
    table = Timetable.for_cron("*/30 2 * * *", "Europe/Paris")
    assert [local(t) for t in runs_on(table, SPRING)] == ["03:00+0200", "03:30+0200"]
    assert [local(t) for t in runs_on(table, AUTUMN)] == ["02:00+0200", "02:30+0200"]


def test_wall_instants_of_the_gap_and_the_fold() -> None:
    assert wall_instants(SPRING, time(2, 30), PARIS, both_folds=True) == [datetime(2025, 3, 30, 1, 30, tzinfo=UTC)]
    assert wall_instants(AUTUMN, time(2, 30), PARIS, both_folds=False) == [datetime(2025, 10, 26, 0, 30, tzinfo=UTC)]
    assert wall_instants(AUTUMN, time(2, 30), PARIS, both_folds=True) == [
        datetime(2025, 10, 26, 0, 30, tzinfo=UTC), datetime(2025, 10, 26, 1, 30, tzinfo=UTC)]


def test_next_after_and_latest_at_or_before_agree() -> None:
    table = Timetable.for_cron("30 2 * * *", "Europe/Paris")
    spring_run = datetime(2025, 3, 30, 1, 30, tzinfo=UTC)
    assert table.next_after(spring_run - timedelta(seconds=1)) == spring_run
    assert table.next_after(spring_run) == datetime(2025, 3, 31, 0, 30, tzinfo=UTC)
    assert table.latest_at_or_before(spring_run) == spring_run
    assert table.latest_at_or_before(spring_run - timedelta(seconds=1)) == datetime(2025, 3, 29, 1, 30, tzinfo=UTC)
    assert table.upcoming(datetime(2025, 10, 25, 12, tzinfo=UTC), 3) == [
        datetime(2025, 10, 26, 0, 30, tzinfo=UTC), datetime(2025, 10, 27, 1, 30, tzinfo=UTC),
        datetime(2025, 10, 28, 1, 30, tzinfo=UTC)]


def test_interval_runs_are_anchored() -> None:
    table = Timetable.for_interval(15)
    anchor = datetime(2025, 1, 1, tzinfo=UTC)
    assert table.next_after(anchor - timedelta(hours=1), anchor=anchor) == anchor
    assert table.next_after(anchor + timedelta(seconds=20), anchor=anchor) == anchor + timedelta(seconds=30)
    assert table.latest_at_or_before(anchor + timedelta(seconds=44), anchor=anchor) == anchor + timedelta(seconds=30)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "is empty"),
        ("0 3 * *", "has 4 field(s)"),
        ("61 * * * *", "the minute field '61' is invalid"),
        ("0 24 * * *", "the hour field '24' is invalid"),
        ("0 3 32 * *", "the day of month field '32' is invalid"),
        ("0 3 * 13 *", "the month field '13' is invalid"),
        ("0 3 * * 7", "the day of week field '7' is invalid (0-6, 0 = Sunday, or sun-sat)"),
        ("0 3 1 * mon", "restricts both the day of month and the day of week"),
        ("0 3 31 2 *", "never matches a date"),
        ("every hour", "has 2 field(s)"),
    ],
)
def test_bad_cron_expressions_say_which_field(expression: str, message: str) -> None:
    with pytest.raises(TimetableError) as caught:
        parse_cron(expression)
    assert message in str(caught.value)


def test_cron_aliases_and_names() -> None:
    assert parse_cron("@hourly").expression == "0 * * * *"
    assert parse_cron("@daily").expression == "0 0 * * *"
    assert sorted(parse_cron("0 9 * * mon-fri").days_of_week) == [1, 2, 3, 4, 5]


def test_time_zones_are_checked() -> None:
    assert parse_timezone("Europe/Paris") == PARIS
    for bad in ("Mars/Olympus", "", "../etc/passwd"):
        with pytest.raises(TimetableError):
            parse_timezone(bad)


# --- what django-celery-beat does on those days -------------------------------------------------


def beat_fires(minute: str, hour: str, start: datetime, end: datetime) -> list[datetime]:
    """Ask django-celery-beat's crontab (TzAwareCrontab, as ModelEntry.is_due does) every
    20 seconds from `start` to `end`, and record when it says due."""
    clock = [start]
    schedule = TzAwareCrontab(minute=minute, hour=hour, tz=PARIS, app=app)
    schedule.nowfun = lambda: clock[0].astimezone(PARIS)
    last = start
    fired = []
    while clock[0] < end:
        due, _ = schedule.is_due(last.astimezone(app.timezone))
        if due:
            fired.append(clock[0])
            last = clock[0]
        clock[0] += timedelta(seconds=20)
    return fired


@pytest.mark.parametrize("day", [SPRING, AUTUMN], ids=["spring-forward", "fall-back"])
@pytest.mark.parametrize(("minute", "hour"), [("0", "3"), ("30", "2")], ids=["0300", "0230"])
def test_beats_crontab_asks_at_the_instants_the_scheduler_fires(day: date, minute: str, hour: str) -> None:
    """Celery 5.7 / django-celery-beat 2.9 agree with the timetable on both change days (older
    releases ran such jobs an hour off: django-celery-beat #134, celery #1604). The scheduler
    does not depend on it: a tick is fired by the timetable's claim, early messages find
    nothing due, and the overdue check fires a tick beat missed."""
    start = datetime.combine(day - timedelta(days=1), datetime.min.time(), tzinfo=PARIS).replace(hour=12)
    end = start + timedelta(days=2)
    fired = beat_fires(minute, hour, start.astimezone(UTC), end.astimezone(UTC))
    expected = list(Timetable.for_cron(f"{minute} {hour} * * *", PARIS).between(start, end))
    assert len(fired) == len(expected) == 2
    for asked, tick in zip(fired, expected):
        assert timedelta(0) <= asked - tick < timedelta(seconds=20)
