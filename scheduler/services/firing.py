"""Firing a schedule: one tick claimed once, whoever asks, and the job it starts.

1. Firing claims the tick with one guarded UPDATE of `next_run_at` (the earliest unfired
   tick, computed from the schedule's timetable): the message that wins creates the tick's
   job, every other one (a second beat, a redelivery, the overdue check) changes nothing.
2. The job is made by the job services themselves: `job_submit` (the owner's quota applies)
   for a user schedule, `job_create` for a system schedule's tracked job, `untracked_job_send`
   for an untracked job (no row). Its dedup key is the schedule and the tick (`schedule:<id>:<time>`,
   which job_submit scopes to the owner or the organization; `system:<name>:<time>`), so the
   jobs of a schedule are found by their key (`ScheduledJob.job_key_prefix`).
3. Catch-up: a tick fired later than JOBS_SCHEDULE_MISFIRE_GRACE, or after missed ticks,
   runs once for the latest of them ("run_once"), or not at all ("skip"); never once per
   missed tick. Overlap "skip": no job while a previous run of the schedule is queued or
   running; the tick is spent and the reason recorded.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from audit.actors import Actor
from config.celery import app
from handlers.registry import get_handler
from jobs import services as job_services
from jobs.conf import conf
from jobs.errors import ConveyorError
from jobs.models import Job
from jobs.storage import durability
from scheduler.errors import ScheduleConflict
from scheduler.models import CatchUp, FireOutcome, Overlap, ScheduledJob
from scheduler.selectors import schedule_unfinished_jobs
from scheduler.services.auditing import schedule_audited, schedule_permitted
from scheduler.services.timing import due_tick, first_run, iso, tolerance
from telemetry import metrics

logger = logging.getLogger("conveyor.scheduler")

# The overdue check leaves a tick this long to beat's own message before firing it itself.
OVERDUE_AFTER = 10.0


@dataclass(frozen=True)
class FireResult:
    """What one request to fire did. `outcome` is None when it did nothing (not due, already
    fired by another message, inactive); `reason` then says which."""

    schedule_id: int | None
    outcome: str | None
    reason: str = ""
    scheduled_for: datetime | None = None
    job: Job | None = None
    task_id: str | None = None

    @property
    def fired(self) -> bool:
        return self.outcome is not None


def schedule_fire(*, schedule_id: Any, now: datetime | None = None, trigger: str = "beat") -> FireResult:
    """Fire the schedule's due tick if this call is the one that claims it (see the module doc).

    `trigger` only labels the logs: "beat", "overdue" (the safety net), "test".
    """
    now = now or timezone.now()
    try:
        pk = int(schedule_id)
    except (TypeError, ValueError):
        logger.warning("fire: malformed schedule id %r ignored", schedule_id)
        return FireResult(None, None, "malformed schedule id")
    schedule = ScheduledJob.objects.select_related("owner", "organization").filter(pk=pk).first()
    refused = _not_firing(pk, schedule, now)
    if refused is not None:
        return refused
    assert schedule is not None and schedule.next_run_at is not None  # _not_firing said so
    result = _claim_and_fire(schedule, schedule.next_run_at, now, trigger)
    if not result.fired:
        return result  # another message took the tick: nothing to tell
    level = logging.WARNING if result.outcome in (FireOutcome.FAILED, FireOutcome.SKIPPED_MISSED) else logging.INFO
    logger.log(level, "%s: %s (%s)", schedule, result.outcome, result.reason if result.job is None else
               f"job {result.job.pk}")
    return result


def _not_firing(pk: int, schedule: ScheduledJob | None, now: datetime) -> FireResult | None:
    """Why this schedule has no tick to claim now, or None when it may have one."""
    if schedule is None:
        return FireResult(pk, None, "no such schedule (deleted)")
    if schedule.fires_through_task:
        return FireResult(pk, None, "a task schedule: beat sends its task itself")
    if not schedule.is_active:
        return FireResult(pk, None, "paused or disabled")
    expected = schedule.next_run_at
    if expected is None:
        # a row that was never armed: arm it, it fires from its next tick
        ScheduledJob.objects.filter(pk=pk, next_run_at__isnull=True).update(next_run_at=first_run(schedule, now))
        return FireResult(pk, None, "armed: it had no next run")
    if expected > now + timedelta(seconds=tolerance(schedule)):
        return FireResult(pk, None, f"not due until {iso(expected)} (already fired, or an early message)")
    return None


def _claim_and_fire(schedule: ScheduledJob, expected: datetime, now: datetime, trigger: str) -> FireResult:
    pk = schedule.pk
    tick, following, missed = due_tick(schedule, expected, now)
    late = (now - tick).total_seconds() > conf.schedule_misfire_grace
    note = f"tick {iso(tick)} fired by {trigger}" + (
        f", {(now - tick).total_seconds():.0f}s late" if late else "") + (
        " after missed ticks" if missed else "")
    with transaction.atomic():
        durability.commit_durably()
        # the claim: of every message for this tick, the first to move next_run_at wins
        claimed = ScheduledJob.objects.filter(pk=pk, next_run_at=expected, enabled=True, paused=False).update(
            next_run_at=following, last_run_at=tick, updated_at=now
        )
        if not claimed:
            return FireResult(pk, None, "another message already fired this tick", tick)
        if late and schedule.catch_up == CatchUp.SKIP:
            _record(pk, now, FireOutcome.SKIPPED_MISSED, f"{note}: catch-up is off, waiting for the next tick")
            return FireResult(pk, FireOutcome.SKIPPED_MISSED, "missed", tick)
        if not _is_untracked(schedule):
            return _fire_claimed(schedule, tick, now, note)
    # after the commit: a message is no transaction's part
    return _send_untracked_job(schedule, tick, now, note)


def _fire_claimed(schedule: ScheduledJob, tick: datetime, now: datetime, note: str) -> FireResult:
    """The claimed tick's job, inside the claim's transaction; the outcome recorded."""
    pk = schedule.pk
    if schedule.owner is not None and not schedule.owner.is_active:
        message = f"{note}: no job: its owner, user {schedule.owner_id}, is deactivated"
        _record(pk, now, FireOutcome.FAILED, message)
        return FireResult(pk, FireOutcome.FAILED, message, tick)
    if schedule.overlap == Overlap.SKIP and (previous := _unfinished_run(schedule)) is not None:
        message = f"{note}: skipped, job {previous[0]} of the previous run is still {previous[1]}"
        _record(pk, now, FireOutcome.SKIPPED_OVERLAP, message)
        return FireResult(pk, FireOutcome.SKIPPED_OVERLAP, message, tick)
    try:
        with transaction.atomic():  # a refused job (quota, a type since removed) keeps the claim
            job, deduplicated = _create_job(schedule, schedule.job_key(iso(tick)))
    except ConveyorError as exc:
        message = f"{note}: no job: {exc}"
        _record(pk, now, FireOutcome.FAILED, message)
        return FireResult(pk, FireOutcome.FAILED, message, tick)
    outcome = FireOutcome.DEDUPLICATED if deduplicated else FireOutcome.CREATED
    _record(pk, now, outcome, f"{note}: job {job.pk}", job=job, counted=outcome == FireOutcome.CREATED)
    return FireResult(pk, outcome, note, tick, job=job)


def schedules_fire_overdue(*, now: datetime | None = None, limit: int = 500) -> int:
    """The safety net: fire the schedules whose tick passed OVERDUE_AFTER seconds ago without
    being claimed (beat's message lost, beat down, a crontab beat skipped). Returns how many
    fired; the claim makes a race with beat's own message harmless."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=OVERDUE_AFTER)
    overdue = list(
        ScheduledJob.objects.filter(enabled=True, paused=False, next_run_at__lte=cutoff, task="")
        .order_by("next_run_at").values_list("pk", flat=True)[:limit]
    )
    fired = 0
    for pk in overdue:
        try:
            fired += schedule_fire(schedule_id=pk, trigger="overdue").fired
        except Exception:  # one broken schedule must not stop the others
            logger.exception("overdue check: schedule %s could not be fired", pk)
    if fired:
        logger.warning("overdue check fired %s schedule(s) whose tick passed without beat's message", fired)
    return fired


def schedule_run_now(*, schedule: ScheduledJob, now: datetime | None = None, by: Actor | None = None) -> FireResult:
    """Start one run now, outside the timetable (next_run_at is unchanged). The overlap policy
    holds: "skip" refuses while a previous run is queued or running (ScheduleConflict). Job
    errors (quota, validation) propagate: nothing was created."""
    now = now or timezone.now()
    note = "run now"
    schedule_permitted(by, "run_now", schedule)
    if schedule.fires_through_task:
        return _audited_run(by, schedule, _send_task(schedule, now, note))
    if _is_untracked(schedule):
        return _audited_run(by, schedule, _send_untracked_job(schedule, now, now, note))
    with transaction.atomic():
        # the row lock serializes this with a tick firing at the same moment (its claim UPDATE)
        locked = (ScheduledJob.objects.select_for_update(of=("self",)).select_related("owner", "organization")
                  .get(pk=schedule.pk))
        if locked.overlap == Overlap.SKIP and (previous := _unfinished_run(locked)) is not None:
            raise ScheduleConflict(locked, f"job {previous[0]} of its previous run is still {previous[1]} and its "
                                           "overlap policy is 'skip'")
        job, _ = _create_job(locked, locked.job_key(f"now:{iso(now)}:{uuid.uuid4().hex[:8]}"))
        _record(locked.pk, now, FireOutcome.CREATED, f"{note}: job {job.pk}", job=job, counted=True)
        schedule_audited(by, "run_now", locked, f"job {job.pk}", {"job": str(job.pk)})
    logger.info("%s run now: job %s", locked, job.pk)
    return FireResult(locked.pk, FireOutcome.CREATED, note, now, job=job)


def _audited_run(by: Actor | None, schedule: ScheduledJob, result: FireResult) -> FireResult:
    with transaction.atomic():
        schedule_audited(by, "run_now", schedule, result.outcome or result.reason)
    return result


# --- what a tick starts ---------------------------------------------------------------------------


def _unfinished_run(schedule: ScheduledJob) -> tuple[Any, str] | None:
    """A job of this schedule still queued or running (retries waiting count as queued)."""
    return schedule_unfinished_jobs(schedule=schedule).order_by("created_at").values_list("pk", "status").first()


def _is_untracked(schedule: ScheduledJob) -> bool:
    """Does the schedule start an untracked job (no Job row), sent rather than created?"""
    spec = get_handler(schedule.job_type)
    return spec is not None and not spec.tracked


def _create_job(schedule: ScheduledJob, dedup_key: str) -> tuple[Job, bool]:
    """The tick's job, and whether a queued job already held its key (no new job then)."""
    if schedule.is_system:
        created = job_services.job_create(type=schedule.job_type, input=schedule.input, dedup_key=dedup_key)
    else:
        # the owner's request, made on their behalf: their quota applies as to the API
        created = job_services.job_submit(user=schedule.owner, type=schedule.job_type, input=schedule.input,
                                          organization=schedule.organization, dedup_key=dedup_key)
    return created.job, created.deduplicated


def _send_untracked_job(schedule: ScheduledJob, tick: datetime | None, now: datetime, note: str) -> FireResult:
    try:
        task_id = job_services.untracked_job_send(type=schedule.job_type, input=schedule.input)
    except Exception as exc:  # a validation error, or the broker down: the tick is spent either way
        message = f"{note}: untracked job not sent: {exc}"
        _record(schedule.pk, now, FireOutcome.FAILED, message)
        return FireResult(schedule.pk, FireOutcome.FAILED, message, tick)
    _record(schedule.pk, now, FireOutcome.SENT, f"{note}: untracked job {task_id}", counted=True)
    return FireResult(schedule.pk, FireOutcome.SENT, note, tick, task_id=task_id)


def _send_task(schedule: ScheduledJob, now: datetime, note: str) -> FireResult:
    try:
        task_id = app.send_task(schedule.task, queue=conf.system_queue).id
    except Exception as exc:  # the broker is down
        message = f"{note}: task {schedule.task} not sent: {exc}"
        _record(schedule.pk, now, FireOutcome.FAILED, message)
        return FireResult(schedule.pk, FireOutcome.FAILED, message, now)
    _record(schedule.pk, now, FireOutcome.SENT, f"{note}: task {schedule.task} {task_id}", counted=True)
    return FireResult(schedule.pk, FireOutcome.SENT, note, now, task_id=task_id)


def _record(schedule_id: int, now: datetime, outcome: str, message: str, *, job: Job | None = None,
            counted: bool = False) -> None:
    """What the tick (or run-now) did, on the schedule's row; `counted` adds one to its runs."""
    changes: dict[str, Any] = {"last_outcome": outcome, "last_message": message[:500], "last_fired_at": now,
                               "updated_at": now}
    if job is not None:
        changes["last_job"] = job
    if counted:
        changes["run_count"] = F("run_count") + 1
    ScheduledJob.objects.filter(pk=schedule_id).update(**changes)
    metrics.SCHEDULE_TICKS.inc(outcome=str(outcome))
