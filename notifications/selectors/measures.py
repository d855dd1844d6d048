"""What the conditions measure, per rule and key, read at one moment: the backlog of a queue,
whether a live worker consumes it, the failure rate of a window, the schedules overdue.

Each measurement says whether the condition holds and what to say about it. A key that is
not measured any more (a queue with nothing waiting, a schedule that fired) does not hold:
`cleared_summary` says what to say when it clears. The notifications app's own jobs are
never counted.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q

from jobs.models import Job, due_q
from jobs.states import JobStatus
from notifications.kinds import OWN_TYPE_PREFIX, EventKind
from notifications.models import Rule
from scheduler.selectors import schedules_overdue
from telemetry.liveness import consumers_per_queue, live_workers


@dataclass(frozen=True)
class Measurement:
    key: str
    active: bool
    value: float
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


def measure(rule: Rule, now: datetime) -> dict[str, Measurement]:
    """Every key the rule's condition has now, by key."""
    readers = {
        EventKind.QUEUE_BACKLOG: _backlog,
        EventKind.QUEUE_NO_CONSUMER: _no_consumer,
        EventKind.FAILURE_RATE: _failure_rate,
        EventKind.SCHEDULE_MISSED: _schedules_missed,
    }
    reader = readers.get(EventKind(rule.event))
    if reader is None:
        return {}
    return {m.key: m for m in reader(rule, now)}


def cleared_summary(rule: Rule, key: str, last_value: float) -> str:
    """What a "resolved" message says of a key that is no longer measured."""
    name = key.split(":", 1)[-1]
    if rule.event == EventKind.QUEUE_BACKLOG:
        return f"queue {name}: no due job waits any more (threshold {_number(rule.threshold)})"
    if rule.event == EventKind.QUEUE_NO_CONSUMER:
        return f"queue {name}: no job waits for a consumer any more"
    if rule.event == EventKind.SCHEDULE_MISSED:
        return f"schedule {name} is no longer overdue (or was removed, paused or disabled)"
    return f"{key} is back to normal (was {_number(last_value)})"


def job_scope(rule: Rule) -> Q:
    """The jobs a rule's scope contains (never this app's own)."""
    scope = ~Q(type__startswith=OWN_TYPE_PREFIX + ".") & ~Q(type__startswith=OWN_TYPE_PREFIX + ":")
    if rule.organization_id:
        scope &= Q(organization_id=rule.organization_id)
    if rule.project_id:
        scope &= Q(project_id=rule.project_id)
    if rule.job_type:
        scope &= Q(type=rule.job_type)
    if rule.queue:
        scope &= Q(queue=rule.queue)
    return scope


def waiting_by_queue(rule: Rule, now: datetime) -> dict[str, int]:
    """Due queued jobs in the rule's scope, per queue (queues with none are absent)."""
    rows = (Job.objects.filter(due_q(now), job_scope(rule), status=JobStatus.QUEUED)
            .values("queue").annotate(waiting=Count("pk")).order_by())
    return {row["queue"]: row["waiting"] for row in rows}


def _backlog(rule: Rule, now: datetime) -> list[Measurement]:
    threshold = rule.threshold or 0
    return [
        Measurement(
            key=f"queue:{queue}", active=waiting > threshold, value=waiting,
            summary=f"queue {queue}: {waiting} due job(s) waiting, over the threshold of {_number(threshold)}"
            if waiting > threshold else f"queue {queue}: backlog down to {waiting} (threshold {_number(threshold)})",
            details={"queue": queue, "waiting": waiting, "threshold": threshold},
        )
        for queue, waiting in sorted(waiting_by_queue(rule, now).items())
    ]


def _no_consumer(rule: Rule, now: datetime) -> list[Measurement]:
    consumers = consumers_per_queue(live_workers())
    waiting = waiting_by_queue(rule, now)
    # a queue the rule names must always have a consumer; otherwise, the queues where jobs wait
    queues = [rule.queue] if rule.queue else sorted(waiting)
    found = []
    for queue in queues:
        count, jobs = consumers.get(queue, 0), waiting.get(queue, 0)
        summary = (f"queue {queue}: no live worker consumes it ({jobs} due job(s) waiting)" if count == 0
                   else f"queue {queue}: consumed again by {count} live worker(s)")
        found.append(Measurement(key=f"queue:{queue}", active=count == 0, value=count, summary=summary,
                                 details={"queue": queue, "consumers": count, "waiting": jobs}))
    return found


def _failure_rate(rule: Rule, now: datetime) -> list[Measurement]:
    window = rule.window_seconds or 0
    threshold = rule.threshold or 0
    # the jobs created in the window that have finished: read through the creation-time
    # indexes, where a scan of completion times would read the whole table
    counts = (Job.objects.filter(job_scope(rule), created_at__gte=now - timedelta(seconds=window),
                                 status__in=(JobStatus.COMPLETED, JobStatus.FAILED))
              .aggregate(total=Count("pk"), failed=Count("pk", filter=Q(status=JobStatus.FAILED))))
    total, failed = counts["total"] or 0, counts["failed"] or 0
    rate = 100.0 * failed / total if total else 0.0
    active = total >= rule.min_jobs and rate > threshold
    summary = (f"{rate:.1f}% of {total} finished job(s) failed in the last {window} s, over {_number(threshold)}%"
               if active else f"failure rate down to {rate:.1f}% of {total} finished job(s) in the last {window} s "
                              f"(threshold {_number(threshold)}%)")
    return [Measurement(key="rate", active=active, value=round(rate, 3), summary=summary,
                        details={"rate": round(rate, 3), "failed": failed, "finished": total, "windowSeconds": window,
                                 "threshold": threshold, "minJobs": rule.min_jobs})]


def _schedules_missed(rule: Rule, now: datetime) -> list[Measurement]:
    overdue = schedules_overdue(now=now)
    if rule.organization_id:
        overdue = overdue.filter(organization_id=rule.organization_id)
    if rule.job_type:
        overdue = overdue.filter(job_type=rule.job_type)
    found = []
    for schedule in overdue.order_by("pk")[:500]:
        late = (now - schedule.next_run_at).total_seconds() if schedule.next_run_at else 0.0
        found.append(Measurement(
            key=f"schedule:{schedule.pk}", active=True, value=round(late, 1),
            summary=f"schedule {schedule.name!r} missed its tick of {schedule.next_run_at:%Y-%m-%d %H:%M} UTC "
                    f"({late:.0f} s late)",
            details={"scheduleId": schedule.pk, "schedule": schedule.name, "jobType": schedule.job_type,
                     "dueAt": schedule.next_run_at.isoformat() if schedule.next_run_at else None},
        ))
    return found


def _number(value: float | None) -> str:
    return f"{value or 0:g}"
