"""Firing a stored schedule through `schedule_fire`, minute by minute over the daylight-saving
changes of Europe/Paris (2025-03-30, 02:00 -> 03:00; 2025-10-26, 03:00 -> 02:00): one job per
day at the timetable's instant. The timetable's own computation is
tests/unit/test_scheduler_timetable.py."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings

from jobs.models import Job
from scheduler import services
from scheduler.models import FireOutcome
from tests.factories import make_user

PARIS = ZoneInfo("Europe/Paris")
SPRING = date(2025, 3, 30)  # 02:00 CET -> 03:00 CEST: 02:xx does not exist
AUTUMN = date(2025, 10, 26)  # 03:00 CEST -> 02:00 CET: 02:xx happens twice


def local(moment: datetime) -> str:
    return moment.astimezone(PARIS).strftime("%H:%M%z")


@pytest.fixture
def no_quotas() -> Iterator[None]:
    with override_settings(JOBS_QUOTA_PER_MINUTE=0, JOBS_QUOTA_PER_HOUR=0, JOBS_QUOTA_PER_DAY=0):
        yield


def fire_every_five_minutes(schedule_id: int, start: datetime, end: datetime) -> list[datetime]:
    """Ask at every fifth minute from `start` to `end`, and again a second later as a second
    beat would; every run created finishes at once, so that overlap "skip" holds nothing back."""
    moment = start
    fired: list[datetime] = []
    while moment < end:
        for echo in (0, 1):
            result = services.schedule_fire(schedule_id=schedule_id, now=moment + timedelta(seconds=echo),
                                            trigger="test")
            if result.outcome == FireOutcome.CREATED:
                assert result.scheduled_for is not None and result.job is not None
                fired.append(result.scheduled_for)
                Job.objects.filter(pk=result.job.pk).update(status="completed")
        moment += timedelta(minutes=5)
    return fired


@pytest.mark.django_db
@pytest.mark.parametrize("day", [SPRING, AUTUMN], ids=["spring-forward", "fall-back"])
@pytest.mark.parametrize("at", ["03:00", "02:30"])
def test_firing_through_a_change_day_creates_one_job(day: date, at: str, no_quotas: None) -> None:
    """A beat that asks every five minutes over the 48 hours around a change day: one job per
    day, at the timetable's instant."""
    owner = make_user()
    start = datetime.combine(day - timedelta(days=1), datetime.min.time(), tzinfo=PARIS).replace(hour=12)
    schedule = services.schedule_create(owner=owner, name=f"nightly {at}", job_type="demo.sleep", frequency="daily",
                                        time_of_day=at, timezone_name="Europe/Paris", input={"seconds": 0},
                                        now=start.astimezone(UTC))
    fired = fire_every_five_minutes(schedule.pk, start.astimezone(UTC), start.astimezone(UTC) + timedelta(days=2))
    per_day: dict[date, list[str]] = {}
    for tick in fired:
        per_day.setdefault(tick.astimezone(PARIS).date(), []).append(local(tick))
    assert per_day[day] == [{"03:00": "03:00" + ("+0200" if day == SPRING else "+0100"),
                             "02:30": "03:30+0200" if day == SPRING else "02:30+0200"}[at]]
    assert len(per_day[day + timedelta(days=1)]) == 1
    assert len(fired) == 2
    jobs = Job.objects.filter(dedup_key__startswith=schedule.job_key_prefix())
    assert jobs.count() == 2
    assert all(job.created_by_id == owner.pk for job in jobs)
