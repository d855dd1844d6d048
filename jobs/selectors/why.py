"""Why is this job not running? The platform's own answer, read from what decides it: the
job's row, its type's policy, the pauses, the jobs that occupy its limit, the rate limit's log
and the live workers (Redis), and its queue's delivery mark.

A queued job gets every reason that holds, those that keep it waiting first; when nothing
keeps it waiting, one `waiting_turn` reason counts the due jobs of its queue that go before it.
A failed job that expired gets `expired`; other jobs get none. Each `Reason` has a stable code,
a sentence, and where it helps a time (when it changes) and job ids (who holds its limit):

    unknown_type   its type is not registered in this process
    paused         its type or queue is paused (by whom, why, until when)
    scheduled      its run_at is in the future
    debounce       its debounce window runs until T (each trigger with its key pushes it back)
    backoff        its last attempt failed; the retry is due at T
    concurrency    its concurrency limit is full: held by jobs X and Y
    rate_limit     its rate limit has no room: it admits it at T
    at_gate        the jobs waiting ahead of it at its limit; or room and no admission yet
    no_worker      no live worker consumes its queue
    no_sweeper     what would publish it (the sweeper: beat, and a worker on the system queue) is not running
    held           no message: the sweeper publishes it at its next pass, by T
    lost           its message is presumed lost: the sweeper republishes it by T
    late           nobody claimed it for long in a queue where nothing moves: a probe goes through
    waiting_turn   its message is out: N due jobs of its queue go first
    expires        it fails unless started by T (its type's queue-wait timeout)
    expired        it expired at T
    unknown        a part of the answer could not be read (Redis)

The sweeper's timings are the JOBS_SWEEP_* settings (`jobs.services.sweeper` tells the rules).
Every read is a primary-key or index lookup, or one Redis round trip: the page stays fast at
a million jobs.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from handlers.registry import HandlerSpec, get_handler
from jobs import limits
from jobs.conf import conf
from jobs.models import AT_GATE, SENT, DeliveryMark, Job, JobAttempt, Pause, PauseKind
from jobs.states import AttemptOutcome, JobStatus
from telemetry import liveness

# counting the jobs ahead stops here (an index range read, bounded)
COUNT_CAP = 10_000
# what occupies a limit's room: running, or admitted (its message out); as jobs.services.gates
_BUSY = Q(status=JobStatus.RUNNING) | SENT
_RETRYING = (AttemptOutcome.FAILED, AttemptOutcome.TIMEOUT, AttemptOutcome.INTERRUPTED, AttemptOutcome.LOST)


@dataclass(frozen=True)
class Reason:
    """One reason a job is not running (or, `blocking` False, a fact that goes with it)."""

    code: str
    text: str
    at: datetime | None = None
    job_ids: tuple[str, ...] = ()
    blocking: bool = True


def why_not_running(*, job: Job, now: datetime | None = None) -> list[Reason]:
    """Every reason `job` is not running now, those that keep it waiting first."""
    now = now or timezone.now()
    if job.status == JobStatus.FAILED:
        return _expired(job)
    if job.status != JobStatus.QUEUED:
        return []
    spec = get_handler(job.type)
    reasons: list[Reason] = []
    if spec is None:
        reasons.append(Reason("unknown_type", f"Its type {job.type} is not registered in this process "
                                              "(JOBS_HANDLER_MODULES): a worker that does not know it either "
                                              "fails the job when it gets it."))
    paused = _paused(job, now)
    reasons += paused
    due = job.run_at is None or job.run_at <= now
    if not due:
        reasons.append(_not_due(job, spec, now))
    if not paused and spec is not None and job.gate and job.dispatched_at is None:
        reasons += _at_gate(job, spec, now, due)
    elif not paused and due and job.dispatched_at is None:
        reasons.append(Reason("held", "It has no message: it is held in the database (a long delay ended, or a "
                                      "publish failed). The sweeper publishes it at its next pass, by "
                                      f"{_when(_next_sweep(now), now)}.", at=_next_sweep(now)))
    elif not paused and due:
        reasons += _message(job, now)
    workers = _consumers(job, needs_sweeper=not paused and any(r.code in _SWEPT for r in reasons))
    reasons += workers
    reasons += _expiry(job, now)
    if not any(reason.blocking for reason in reasons):
        reasons.insert(0, _turn(job, now))
    return sorted(reasons, key=lambda reason: not reason.blocking)


_SWEPT = ("held", "lost", "late", "at_gate")


def _when(moment: datetime, now: datetime) -> str:
    """A time for a sentence: UTC, and how far from now."""
    seconds = (moment - now).total_seconds()
    stamp = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if abs(seconds) < 1:
        return f"{stamp} (now)"
    return f"{stamp} ({'in ' if seconds > 0 else ''}{_span(abs(seconds))}{' ago' if seconds < 0 else ''})"


def _span(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    return f"{hours // 24}d{hours % 24:02d}h"


def _next_sweep(now: datetime) -> datetime:
    return now + timedelta(seconds=conf.sweep_interval)


def _ids(jobs: list[str]) -> str:
    return " and ".join([", ".join(jobs[:-1]), jobs[-1]]) if len(jobs) > 1 else jobs[0]


def _paused(job: Job, now: datetime) -> list[Reason]:
    pauses = Pause.objects.holding(now).filter(Q(kind=PauseKind.TYPE, name=job.type)
                                               | Q(kind=PauseKind.QUEUE, name=job.queue)).order_by("-kind")
    reasons = []
    for pause in pauses:
        what = f"Its type {job.type}" if pause.kind == PauseKind.TYPE else f"Its queue {job.queue}"
        until = f"until {_when(pause.until, now)}" if pause.until else "until someone resumes it"
        why = f': "{pause.reason}"' if pause.reason else " (no reason given)"
        reasons.append(Reason("paused", f"{what} is paused by {pause.paused_by_name or 'the platform'} since "
                                        f"{_when(pause.paused_at, now)}, {until}{why}.", at=pause.until))
    return reasons


def _not_due(job: Job, spec: HandlerSpec | None, now: datetime) -> Reason:
    assert job.run_at is not None
    when = _when(job.run_at, now)
    holding = ("" if job.dispatched_at is not None or job.gate
               else " It waits in the database until then; the sweeper publishes it at its first pass after.")
    last = (JobAttempt.objects.filter(job_id=job.pk, number=job.attempts).only("outcome", "finished_at").first()
            if job.attempts else None)
    if last is not None and last.outcome in _RETRYING and last.finished_at is not None \
            and last.finished_at <= job.run_at:
        return Reason("backoff", f"Attempt {last.number} ended ({last.get_outcome_display()}) at "
                                 f"{_when(last.finished_at, now)}; the next attempt is due at {when}.{holding}",
                      at=job.run_at)
    if spec is not None and spec.debounce and job.dedup_key:
        return Reason("debounce", f"Its debounce window runs until {when}: each new trigger with its dedup key "
                                  f"{job.dedup_key} pushes it back {spec.debounce:g}s.{holding}", at=job.run_at)
    return Reason("scheduled", f"Its run_at is in the future: {when}.{holding}", at=job.run_at)


def _at_gate(job: Job, spec: HandlerSpec, now: datetime, due: bool) -> list[Reason]:
    """A job waiting at its gate for room in its type's concurrency or rate limit."""
    assert job.gate is not None
    reasons: list[Reason] = []
    if spec.concurrency:
        holders = [str(pk) for pk in Job.objects.filter(_BUSY, gate=job.gate).order_by("started_at")
                   .values_list("pk", flat=True)[: spec.concurrency + 5]]
        if len(holders) >= spec.concurrency:
            per = f" per {job.concurrency_key}" if job.concurrency_key else f" for the type {spec.type}"
            reasons.append(Reason("concurrency", f"Its concurrency limit ({spec.concurrency} at once{per}) is full: "
                                                 f"held by job{'s' if len(holders) > 1 else ''} {_ids(holders)}.",
                                  job_ids=tuple(holders)))
    if spec.rate_limit:
        reasons += _rate(job, spec, now)
    queued_at = job.queued_at or job.created_at
    ahead = Job.objects.filter(AT_GATE, gate=job.gate).filter(
        Q(priority__lt=job.priority) | Q(priority=job.priority, queued_at__lt=queued_at)
    ).filter(Q(run_at__isnull=True) | Q(run_at__lte=now)).exclude(pk=job.pk)[:COUNT_CAP].count()
    if ahead:
        reasons.append(Reason("at_gate", f"{_count(ahead)} job{'s' if ahead > 1 else ''} of its limit wait ahead "
                                         "of it (more urgent, or queued earlier).", blocking=False))
    elif due and not reasons:
        reasons.append(Reason("at_gate", "Its limit has room, but it has no message yet: the next admission (when "
                                         f"a run of its type ends, or the sweeper's next pass, by "
                                         f"{_when(_next_sweep(now), now)}) gives it one.", at=_next_sweep(now)))
    return reasons


def _rate(job: Job, spec: HandlerSpec, now: datetime) -> list[Reason]:
    assert spec.rate_limit is not None
    count, period = spec.rate_limit.count, spec.rate_limit.period
    try:
        left, opens_in = limits.rate_room(spec.type, count, period)
    except Exception as exc:  # redis' errors
        return [Reason("unknown", f"Its rate limit's state could not be read from Redis ({exc}).", blocking=False)]
    in_flight = Job.objects.filter(Q(type=spec.type), SENT).count()
    if left - in_flight > 0:
        return []
    opens = now + timedelta(seconds=opens_in if opens_in > 0 else period)
    return [Reason("rate_limit", f"Its rate limit ({count} starts per {period:g}s, across every worker) has no "
                                 f"room now ({max(left, 0)} left in the window, {in_flight} admitted on their way): "
                                 f"it admits the next waiting job at {_when(opens, now)}.", at=opens)]


def _message(job: Job, now: datetime) -> list[Reason]:
    """A due job whose message is out: lost, late, or (nothing wrong) none."""
    assert job.dispatched_at is not None
    margin = timedelta(seconds=conf.sweep_overtaken_after)
    mark = DeliveryMark.objects.filter(queue=job.queue, priority=job.priority).first()
    through = mark.delivered_through if mark is not None else None
    if through is not None and job.dispatched_at < through - margin:
        overtaken_at = max(now, (job.run_at or now) + margin)
        by = overtaken_at + timedelta(seconds=conf.sweep_interval)
        return [Reason("lost", f"Its message is presumed lost: it went out at {_when(job.dispatched_at, now)}, and "
                               f"workers have since taken messages of queue {job.queue} (priority {job.priority}) "
                               f"sent up to {_when(through, now)}. The sweeper publishes it again by "
                               f"{_when(by, now)}.", at=by)]
    unclaimed_after = timedelta(seconds=conf.sweep_unclaimed_after)
    if job.dispatched_at < now - unclaimed_after and (job.run_at is None or job.run_at <= now - margin):
        probe = mark.probe_sent_at if mark is not None else None
        next_probe = max(now, probe + unclaimed_after) if probe is not None else _next_sweep(now)
        return [Reason("late", f"Nobody has claimed it since its message went out at {_when(job.dispatched_at, now)}, "
                               f"and no later message of queue {job.queue} (priority {job.priority}) was taken: the "
                               f"sweeper sends a probe through that queue (next by {_when(next_probe, now)}). If the "
                               "probe is taken first, its message is lost and it is published again.",
                       at=next_probe)]
    return []


def _turn(job: Job, now: datetime) -> Reason:
    """Nothing wrong: how many due jobs of its queue go first."""
    if job.dispatched_at is None:
        return Reason("waiting_turn", "It is waiting for its message.", blocking=False)
    first = Q(priority__lt=job.priority) | Q(priority=job.priority, dispatched_at__lt=job.dispatched_at)
    ahead = (Job.objects.filter(SENT, queue=job.queue).filter(first).due(now).exclude(pk=job.pk)[:COUNT_CAP]
             .count())
    return Reason("waiting_turn", f"It has a message out (since {_when(job.dispatched_at, now)}) and is waiting its "
                                  f"turn behind {_count(ahead)} due job{'' if ahead == 1 else 's'} of its queue "
                                  f"{job.queue}.", blocking=False)


def _count(n: int) -> str:
    return f"more than {COUNT_CAP - 1:,}" if n >= COUNT_CAP else f"{n:,}"


def _consumers(job: Job, *, needs_sweeper: bool) -> list[Reason]:
    try:
        workers = liveness.live_workers()
        beat = liveness.last_beat_tick() if needs_sweeper else None
    except Exception as exc:  # redis' errors
        return [Reason("unknown", f"The live workers could not be read from Redis ({exc}).", blocking=False)]
    consumed = liveness.consumers_per_queue(workers)
    reasons = []
    if not workers:
        reasons.append(Reason("no_worker", f"Nobody consumes its queue {job.queue}: no worker is live (none wrote "
                                           f"its liveness record in the last {liveness.max_age():g}s)."))
    elif not consumed[job.queue]:
        listed = ", ".join(sorted(consumed)) or "none"
        reasons.append(Reason("no_worker", f"Nobody consumes its queue {job.queue}: no live worker lists it (the "
                                           f"{len(workers)} live worker{'s' if len(workers) > 1 else ''} consume "
                                           f"{listed})."))
    if not needs_sweeper:
        return reasons
    system = settings.JOBS_SYSTEM_QUEUE
    if workers and not consumed[system]:
        reasons.append(Reason("no_sweeper", f"The sweeper runs on the queue {system}, which no live worker consumes: "
                                            "nothing publishes this job until one does."))
    stale_after = max(3 * conf.sweep_interval, 60.0)
    if beat is None or beat < time.time() - stale_after:
        last = "never" if beat is None else f"last at {_when(datetime.fromtimestamp(beat, tz=UTC), timezone.now())}"
        reasons.append(Reason("no_sweeper", f"beat, which fires the sweeper every {conf.sweep_interval:g}s, is not "
                                            f"ticking (it ticked {last}): nothing publishes this job until it runs."))
    return reasons


def _expiry(job: Job, now: datetime) -> list[Reason]:
    if job.expires_at is None:
        return []
    if job.expires_at <= now:
        return [Reason("expired", f"It expired at {_when(job.expires_at, now)} (not started by its queue-wait "
                                  "deadline): the sweeper fails it at its next pass.", at=job.expires_at)]
    return [Reason("expires", f"It fails unless started by {_when(job.expires_at, now)} (its type's queue-wait "
                              "timeout).", at=job.expires_at, blocking=False)]


def _expired(job: Job) -> list[Reason]:
    """A failed job that expired while queued (its row was failed with no message out)."""
    if (job.expires_at is None or job.completed_at is None or job.completed_at < job.expires_at
            or job.dispatched_at is not None):
        return []
    return [Reason("expired", f"It expired: it was not started by {_when(job.expires_at, job.completed_at)}, the "
                              f"deadline of its queue-wait timeout, and failed at the sweeper's pass.",
                   at=job.completed_at)]
