"""The rollup: the console's time buckets (`console.models.JobMinute`) computed from the jobs table.

Run every 15 seconds by the system schedule `console:rollup-minutes` (`console.tasks`):

1. Lock the mark (`RollupMark`), so that two passes at once take turns.
2. Compute the current minute (so far) and the RECOMPUTE_MINUTES whole minutes before it:
   their finished jobs by completed_at (a range scan of the partial index on completed_at),
   grouped by minute, queue, type, status and the wait and run buckets in one GROUP BY; their
   created jobs by created_at in another. A job that committed late (its completed_at was
   written before a slow commit) is counted when its minute is computed again.
3. When the mark is further back (the rollup did not run for a while, or never ran: then from
   24 hours ago), also compute up to CATCH_UP_MINUTES from the mark on; later passes go on.
4. Replace the rows of those minutes with the new ones, in the mark's transaction.
5. Delete the rows older than KEEP_HOURS.

Each pass reads only the minutes it computes, whatever the table's size. A job's minute is the
one it finished in; a job retried after it finished leaves its old minute when that minute is
computed again (within RECOMPUTE_MINUTES), and is counted where it finishes next.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Case, Count, DateTimeField, ExpressionWrapper, IntegerField, Q, Value, When
from django.db.models.functions import Coalesce, Greatest, TruncMinute
from django.utils import timezone

from console import conf, histograms
from console.models import JobMinute, RollupMark
from jobs.models import Job
from jobs.states import FINAL_STATUSES, JobStatus

MARK = "minutes"
MINUTE = timedelta(minutes=1)
# what a status adds to: the JobMinute column of each final status
_COLUMN: dict[str, str] = {
    JobStatus.COMPLETED: "completed", JobStatus.FAILED: "failed", JobStatus.CANCELLED: "cancelled"}


@dataclass(frozen=True)
class RollupResult:
    """What one pass did: the minutes it computed ([start, end)), rows written and deleted."""

    start: datetime
    end: datetime
    rows: int
    deleted: int
    through: datetime


def floor_minute(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def rollup_minutes(*, now: datetime | None = None) -> RollupResult:
    """One pass of the rollup (see the module's docstring)."""
    now = now or timezone.now()
    current = floor_minute(now)
    recent = current - timedelta(minutes=conf.RECOMPUTE_MINUTES)
    RollupMark.objects.get_or_create(name=MARK)  # outside the lock: creating it may race
    with transaction.atomic():
        mark = RollupMark.objects.select_for_update().get(name=MARK)
        through = mark.through or current - timedelta(hours=24)
        # never before what is kept; never after the recent window (that is computed anyway)
        start = min(max(through, current - timedelta(hours=conf.KEEP_HOURS)), recent)
        if recent - start > timedelta(minutes=conf.CATCH_UP_MINUTES):
            # catching up: this pass computes the next chunk, and the recent minutes too
            ranges = [(start, start + timedelta(minutes=conf.CATCH_UP_MINUTES)), (recent, current + MINUTE)]
            mark.through = ranges[0][1]
        else:
            ranges = [(start, current + MINUTE)]
            mark.through = current
        rows = [row for begin, end in ranges for row in _compute(begin, end)]
        for begin, end in ranges:
            JobMinute.objects.filter(minute__gte=begin, minute__lt=end).delete()
        JobMinute.objects.bulk_create(rows, batch_size=500)
        mark.save(update_fields=["through"])
        deleted, _ = JobMinute.objects.filter(minute__lt=current - timedelta(hours=conf.KEEP_HOURS)).delete()
    return RollupResult(start=ranges[0][0], end=ranges[-1][1], rows=len(rows), deleted=deleted,
                        through=mark.through)


def _bucket_case(value_is_missing: Q, at_most: Any) -> Case:
    """The histogram bucket of each row (-1: no value), as SQL: the first bound it is at most."""
    whens = [When(value_is_missing, then=Value(-1))]
    whens += [When(at_most(bound), then=Value(index)) for index, bound in enumerate(histograms.BOUNDS)]
    return Case(*whens, default=Value(len(histograms.BOUNDS)), output_field=IntegerField())


def _due_plus(seconds: float) -> ExpressionWrapper:
    # when the job was due (as the metrics count a wait: the later of queued_at and run_at),
    # plus `seconds`; Coalesce, because SQLite's MAX() of a NULL is NULL
    due = Greatest(Coalesce("queued_at", "created_at"), Coalesce("run_at", "queued_at", "created_at"),
                   output_field=DateTimeField())
    return ExpressionWrapper(due + Value(timedelta(seconds=seconds)), output_field=DateTimeField())


def _compute(start: datetime, end: datetime) -> list[JobMinute]:
    """The rows of the minutes in [start, end), from the jobs table (two GROUP BYs)."""
    wait_bucket = _bucket_case(Q(started_at__isnull=True), lambda bound: Q(started_at__lte=_due_plus(bound)))
    run_bucket = _bucket_case(Q(actual_duration__isnull=True), lambda bound: Q(actual_duration__lte=bound))
    finished = (
        Job.objects.filter(completed_at__gte=start, completed_at__lt=end, status__in=FINAL_STATUSES)
        .annotate(minute=TruncMinute("completed_at", tzinfo=UTC), wait_bucket=wait_bucket, run_bucket=run_bucket)
        .values("minute", "queue", "type", "status", "wait_bucket", "run_bucket")
        .annotate(count=Count("pk"))
        .order_by()
    )
    created = (
        Job.objects.filter(created_at__gte=start, created_at__lt=end)
        .annotate(minute=TruncMinute("created_at", tzinfo=UTC))
        .values("minute", "queue", "type")
        .annotate(count=Count("pk"))
        .order_by()
    )
    buckets: dict[tuple[datetime, str, str], JobMinute] = defaultdict(lambda: JobMinute())
    for row in finished:
        bucket = buckets[(row["minute"], row["queue"], row["type"])]
        column = _COLUMN.get(row["status"])
        if column is None:
            continue
        setattr(bucket, column, getattr(bucket, column) + row["count"])
        if row["wait_bucket"] >= 0:
            bucket.wait_counts[row["wait_bucket"]] += row["count"]
        if row["run_bucket"] >= 0:
            bucket.run_counts[row["run_bucket"]] += row["count"]
    for made in created:
        buckets[(made["minute"], made["queue"], made["type"])].created += made["count"]
    rows = []
    for (minute, queue, job_type), bucket in sorted(buckets.items()):
        bucket.minute, bucket.queue, bucket.type = floor_minute(minute), queue, job_type
        rows.append(bucket)
    return rows
