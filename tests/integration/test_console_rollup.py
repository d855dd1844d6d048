"""The console's time buckets: jobs finished in known minutes become one row per minute, queue
and type, with their counts and wait and run histograms; a minute computed again is replaced
(a late commit is counted, nothing twice); the rollup catches up after a pause and deletes what
is older than 25 hours; the buckets' percentiles are interpolated from the summed histograms."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from console import histograms, rollup
from console.models import JobMinute, RollupMark
from console.selectors.buckets import bucket_summary
from console.tasks import rollup_minutes as rollup_task
from jobs.models import Job
from tests.factories import make_job

pytestmark = pytest.mark.django_db

# a pass "now": 30 s into a minute, so that the minutes before it are whole
NOW = datetime(2026, 11, 30, 12, 0, 30, tzinfo=UTC)
CURRENT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def minute(offset: int) -> datetime:
    """The minute `offset` minutes from the current one (-1: the one before)."""
    return CURRENT + timedelta(minutes=offset)


def finished(status: str, at: datetime, *, wait: float | None = 1.0, run: float | None = 0.3,
             queue: str = "default", job_type: str = "demo.sleep", **fields: Any) -> Job:
    """A job that finished at `at`, started `run` seconds before, after waiting `wait` seconds
    since it was queued (None: it never started)."""
    started = at - timedelta(seconds=run or 0)
    queued = started - timedelta(seconds=wait or 0)
    values: dict[str, Any] = {"queue": queue, "type": job_type, "created_at": queued, "queued_at": queued,
                              "completed_at": at, "started_at": started if wait is not None else None,
                              "actual_duration": run}
    values.update(fields)
    return make_job(status, **values)


@pytest.fixture
def caught_up() -> RollupMark:
    """The rollup ran a minute ago: a pass computes the recent minutes only."""
    return RollupMark.objects.create(name=rollup.MARK, through=minute(-1))


def rows() -> dict[tuple[datetime, str, str], JobMinute]:
    return {(row.minute, row.queue, row.type): row for row in JobMinute.objects.all()}


def test_jobs_finished_in_known_minutes_become_their_minutes_rows(caught_up: RollupMark) -> None:
    for _ in range(3):
        finished("completed", minute(-1) + timedelta(seconds=10), wait=2.0, run=0.3)
    finished("failed", minute(-2) + timedelta(seconds=59), wait=0.004, run=12.0)
    finished("cancelled", minute(-1) + timedelta(seconds=5), wait=None, run=None)  # cancelled while queued
    finished("completed", minute(-1) + timedelta(seconds=20), queue="attachments", job_type="demo.fail")
    make_job("queued", created_at=minute(0) + timedelta(seconds=3))  # created, not finished
    make_job("completed", created_at=minute(-30), completed_at=minute(-30))  # long before the window

    result = rollup.rollup_minutes(now=NOW)

    found = rows()
    assert set(found) == {
        (minute(-1), "default", "demo.sleep"), (minute(-2), "default", "demo.sleep"),
        (minute(-1), "attachments", "demo.fail"), (minute(0), "default", "demo.sleep"),
    }
    last = found[(minute(-1), "default", "demo.sleep")]
    assert (last.completed, last.failed, last.cancelled) == (3, 0, 1)
    # created in their minute too: queued 2.3 s before they finished, so in minute(-1) as well
    assert last.created == 4
    assert last.wait_counts == _hist({2.0: 3}) and last.run_counts == _hist({0.3: 3})
    before = found[(minute(-2), "default", "demo.sleep")]
    assert (before.completed, before.failed, before.cancelled) == (0, 1, 0)
    assert before.wait_counts == _hist({0.004: 1}) and before.run_counts == _hist({12.0: 1})
    assert found[(minute(0), "default", "demo.sleep")].created == 1
    assert result.rows == 4 and result.start == minute(-3) and result.through == CURRENT


def _hist(values: dict[float, int]) -> list[int]:
    counts = histograms.empty()
    for seconds, count in values.items():
        counts[histograms.index_of(seconds)] += count
    return counts


def test_the_wait_counts_from_when_the_job_was_due_not_from_when_it_was_queued(caught_up: RollupMark) -> None:
    # queued at 11:50 to run at 11:58:59, started 11:59:04: it waited 5 s, not 9 minutes
    make_job("completed", queued_at=minute(-10), created_at=minute(-10), run_at=minute(-1) - timedelta(seconds=1),
             started_at=minute(-1) + timedelta(seconds=4), completed_at=minute(-1) + timedelta(seconds=5),
             actual_duration=1.0)
    rollup.rollup_minutes(now=NOW)
    assert JobMinute.objects.get(minute=minute(-1)).wait_counts == _hist({5.0: 1})


def test_a_minute_computed_again_is_replaced_so_a_late_commit_counts_once(caught_up: RollupMark) -> None:
    finished("completed", minute(-1) + timedelta(seconds=1))
    rollup.rollup_minutes(now=NOW)
    # committed after the first pass, but finished (completed_at) two minutes before the next
    finished("completed", minute(-1) + timedelta(seconds=50))
    later = NOW + timedelta(seconds=15)
    rollup.rollup_minutes(now=later)
    rollup.rollup_minutes(now=later + timedelta(minutes=1))  # the next minute: still within the window
    row = JobMinute.objects.get(minute=minute(-1), queue="default", type="demo.sleep")
    assert row.completed == 2
    assert sum(JobMinute.objects.values_list("completed", flat=True)) == 2  # nothing counted twice


def test_a_job_retried_after_it_finished_leaves_its_minute(caught_up: RollupMark) -> None:
    job = finished("failed", minute(-1) + timedelta(seconds=1))
    rollup.rollup_minutes(now=NOW)
    assert JobMinute.objects.get(minute=minute(-1)).failed == 1
    Job.objects.filter(pk=job.pk).update(status="queued", completed_at=None, started_at=None)  # an operator's retry
    rollup.rollup_minutes(now=NOW + timedelta(seconds=15))
    assert sum(JobMinute.objects.values_list("failed", flat=True)) == 0


def test_the_first_pass_starts_24_hours_back_and_later_passes_catch_up() -> None:
    finished("completed", minute(-5 * 60) + timedelta(seconds=1))  # five hours ago
    finished("completed", minute(-1))
    first = rollup.rollup_minutes(now=NOW)
    assert first.start == minute(-24 * 60) and first.through == minute(-23 * 60)
    # the recent minutes are computed at once, the five-hour-old one not yet
    finishing = JobMinute.objects.filter(completed__gt=0)
    assert set(finishing.values_list("minute", flat=True)) == {minute(-1)}
    passes = 1
    while RollupMark.objects.get().through != CURRENT:
        rollup.rollup_minutes(now=NOW)
        passes += 1
        assert passes < 30, "the rollup never caught up"
    assert set(finishing.values_list("minute", flat=True)) == {minute(-5 * 60), minute(-1)}


def test_buckets_older_than_25_hours_are_deleted() -> None:
    JobMinute.objects.create(minute=minute(-25 * 60 - 1), queue="default", type="demo.sleep", completed=7)
    JobMinute.objects.create(minute=minute(-25 * 60 + 1), queue="default", type="demo.sleep", completed=3)
    RollupMark.objects.create(name=rollup.MARK, through=CURRENT)
    result = rollup.rollup_minutes(now=NOW)
    assert result.deleted == 1 and result.start == minute(-3)
    assert list(JobMinute.objects.values_list("completed", flat=True)) == [3]


def test_the_summary_adds_the_buckets_and_interpolates_percentiles() -> None:
    # 100 runs of demo.sleep: 90 of 0.3 s (bucket 0.25-0.5), 10 of 4 s (bucket 2.5-5)
    for index in range(100):
        finished("completed", minute(-1 - index % 3) + timedelta(seconds=index % 50),
                 run=0.3 if index < 90 else 4.0, wait=0.02)
    finished("failed", minute(-90))  # outside the last hour, inside 24 hours
    RollupMark.objects.create(name=rollup.MARK, through=minute(-100))
    while RollupMark.objects.get().through != CURRENT:
        rollup.rollup_minutes(now=NOW)

    summary = bucket_summary(now=NOW)

    kind = summary["types"]["demo.sleep"]
    assert (kind["completed_1h"], kind["completed_24h"], kind["failed_1h"], kind["failed_24h"]) == (100, 100, 0, 1)
    assert summary["queues"]["default"]["completed_1h"] == 100
    # p50: rank 50.5 of 101 runs (the failed one ran 0.3 s too), in the 0.25-0.5 bucket (91 there)
    assert kind["run_p50"] == [pytest.approx(0.25 + 0.25 * 50.5 / 91), False]
    # p95: rank 95.95, past the 90 short runs and the failed 0.3 s one: in the 2.5-5 bucket
    assert kind["run_p95"] == [pytest.approx(2.5 + 2.5 * (95.95 - 91) / 10), False]
    assert kind["wait_p99"][0] <= 0.025
    hour = summary["series"]["hour"]
    assert len(hour["t"]) == 60 and hour["step"] == 60 and sum(hour["completed"]) == 100
    assert hour["t"][-1] == CURRENT.timestamp()
    day = summary["series"]["day"]
    assert len(day["t"]) == 96 and sum(day["completed"]) == 100 and sum(day["failed"]) == 1
    assert day["t"][-1] + day["step"] == summary["window"]["end"]


def test_the_celery_task_runs_a_pass() -> None:
    finished("completed", datetime.now(UTC) - timedelta(seconds=1))
    assert rollup_task.apply().get() >= 1
    assert JobMinute.objects.filter(completed=1).exists()
