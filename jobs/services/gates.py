"""Admission through a type's limits: a job that cannot run yet waits in the database.

1. A job of a type with a concurrency or rate limit carries a gate: its type, or "type|key"
   when the limit is counted per key. Such a job is created, retried, rescued or released
   *waiting*: queued, with no message (dispatched_at NULL).
2. `admit(gate)` gives the next waiting jobs a new token and a message, in priority then FIFO
   order, as far as the limit has room, under a lock per type so that two admissions never
   count the same room twice. Room for a concurrency limit is the limit less the jobs that
   occupy it: running, or *admitted* (queued with their message out). Room for a rate limit
   is the starts left in its window less the admitted jobs that will start.
3. Room frees when an execution ends (completed, failed, requeued, cancelled, rescued): the
   service that ended it calls `admit` after its commit. A rate limit's room frees with time:
   while jobs wait and its window is full, one timer (an `admit_waiting` message with a
   countdown) admits them when it opens; a retry's backoff sets one too. The sweeper's pass
   covers what a crash or a lost timer missed.
4. A slot is therefore a row: the job's running execution (its token) or the admitted message
   that will claim it. A stale message claims nothing and frees nothing, and a Redis restart
   loses no slot. A worker still takes each start from the rate limit's log when it claims
   (`take_start`), so that the rate holds even when messages bunch up on the way.
Broker work for waiting is one message per admission, not one per waiting job per second.
"""
from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from handlers.registry import HandlerSpec, get_handler
from jobs import limits, publishing
from jobs.conf import conf
from jobs.models import Job, Pause, PauseKind
from jobs.states import JobStatus
from jobs.storage import queries

logger = logging.getLogger("conveyor.jobs")

# what occupies a gate's room (the condition of the job_gate_busy_idx index)
BUSY = Q(status=JobStatus.RUNNING) | Q(status=JobStatus.QUEUED, dispatched_at__isnull=False)
# queued and no message: held for the sweeper, or waiting for room in its gate
WAITING = Q(status=JobStatus.QUEUED, dispatched_at__isnull=True)


def is_limited(spec: HandlerSpec | None) -> bool:
    return spec is not None and spec.tracked and bool(spec.concurrency or spec.rate_limit)


def gate_for(spec: HandlerSpec, concurrency_key: str | None) -> str | None:
    """The gate a new job of `spec` waits at, or None when the type has no limit."""
    if not is_limited(spec):
        return None
    if spec.concurrency and concurrency_key is not None:
        return f"{spec.type}|{concurrency_key}"[:255]
    return spec.type


def _paused(job_type: str, queue: str, now: datetime) -> bool:
    return Pause.objects.holding(now).filter(Q(kind=PauseKind.TYPE, name=job_type)
                                             | Q(kind=PauseKind.QUEUE, name=queue)).exists()


def gate_type(gate: str) -> str:
    return gate.split("|", 1)[0]


def describe(gate: str) -> str:
    """The gate as an operator reads it in a log line."""
    job_type, _, key = gate.partition("|")
    spec = get_handler(job_type)
    parts = []
    if spec is not None and spec.concurrency:
        parts.append(f"concurrency {spec.concurrency}" + (f" per {key}" if key else ""))
    if spec is not None and spec.rate_limit:
        parts.append(f"rate {spec.rate_limit.count}/{spec.rate_limit.period:g}s")
    return f"{job_type} ({', '.join(parts) or 'no limit now'})"


def _lock(job_type: str) -> None:
    """Serialize admissions of one type until the transaction ends (SQLite's transactions
    already hold the database's one write lock from their start)."""
    if connection.vendor != "postgresql":
        return
    key = int.from_bytes(hashlib.blake2b(f"conveyor:gate:{job_type}".encode(), digest_size=8).digest(), "big",
                         signed=True)
    queries.lock_gate(key)


def _same_type(job_type: str) -> Q:
    return Q(gate=job_type) | Q(gate__startswith=f"{job_type}|")


def _room(spec: HandlerSpec, gate: str) -> tuple[int, float]:
    """(jobs the gate may admit now, seconds until a rate limit's window opens; 0: not the
    rate that holds them back)."""
    room = 1 << 30
    if spec.concurrency:
        room = spec.concurrency - Job.objects.filter(BUSY, gate=gate).count()
    if spec.rate_limit:
        # the database first: a job that starts between the two reads is then counted twice
        # (too little room, for a moment), never not at all
        in_flight = Job.objects.filter(_same_type(spec.type), status=JobStatus.QUEUED,
                                       dispatched_at__isnull=False).count()
        left, opens_in = limits.rate_room(spec.type, spec.rate_limit.count, spec.rate_limit.period)
        if left - in_flight < room:
            return max(0, left - in_flight), (opens_in if left - in_flight <= 0 else 0.0)
    return max(0, room), 0.0


def admit(gate: str, *, now: datetime | None = None) -> int:
    """Publish the next waiting jobs of `gate` that its limit has room for; returns how many.

    A gate whose type has no limit any more (or is gone) lets all its waiting jobs go, as
    ordinary held jobs for the sweeper."""
    job_type = gate_type(gate)
    spec = get_handler(job_type)
    if not is_limited(spec):
        released = Job.objects.filter(WAITING, gate=gate).update(gate=None)
        if released:
            logger.warning("gate %s: its type has no limit now; %s waiting job(s) handed to the sweeper",
                           gate, released)
        return 0
    assert spec is not None
    now = now or timezone.now()
    if _paused(job_type, spec.queue, now):
        return 0  # a pause is a gate with no room; resuming admits
    due = Q(run_at__isnull=True) | Q(run_at__lte=now)
    with transaction.atomic():
        _lock(job_type)
        room, opens_in = _room(spec, gate)
        waiting = []
        if room > 0:
            waiting = list(Job.objects.filter(WAITING, due, gate=gate).order_by("priority", "queued_at")
                           .values_list("pk", "token", "type", "queue", "priority")[:room])
        messages: list[Any] = []
        for job_id, old_token, *rest in waiting:
            token = uuid.uuid4()
            if Job.objects.filter(WAITING, pk=job_id, token=old_token).update(token=token, dispatched_at=now):
                messages.append((job_id, token, *rest))
        if messages:
            publishing.publish_many_on_commit(messages)
    if opens_in and Job.objects.filter(WAITING, due, gate=gate).exists():
        schedule(gate, opens_in)
    if messages:
        logger.debug("gate %s: admitted %s job(s)", gate, len(messages))
    return len(messages)


def admit_on_commit(gate: str | None) -> None:
    """`admit(gate)` once the current transaction commits: the room an ending execution
    frees goes to the next waiting job. A failure leaves the jobs waiting for the sweeper."""
    if gate is None:
        return

    def run() -> None:
        try:
            admit(gate)
        except Exception as exc:
            logger.warning("gate %s: admission failed (%s); the sweeper will admit its waiting jobs",
                           describe(gate), exc)

    transaction.on_commit(run)


def schedule(gate: str, delay: float) -> None:
    """Admit `gate` again in `delay` seconds (a rate window opening, a backoff ending); one
    timer per gate and moment. Past JOBS_BROKER_COUNTDOWN_MAX the sweeper's pass does it."""
    if delay > conf.broker_countdown_max:
        return
    try:
        if publishing.current_mode() != "broker" or limits.claim_timer(gate, delay):
            publishing.send_admission(gate=gate, countdown=delay)
    except Exception as exc:
        logger.warning("gate %s: admission timer not sent (%s); the sweeper will admit its waiting jobs",
                       describe(gate), exc)


def schedule_on_commit(gate: str | None, run_at: datetime | None) -> None:
    """A timer for a waiting job due at run_at, sent once the current transaction commits."""
    if gate is None or run_at is None:
        return
    transaction.on_commit(lambda: schedule(gate, max(0.0, (run_at - timezone.now()).total_seconds())))


def take_start(spec: HandlerSpec) -> float:
    """Take one start of the type's rate limit for a delivery about to claim; 0 when it fits,
    else the seconds until it would."""
    if spec.rate_limit is None:
        return 0.0
    return limits.take_rate(spec.type, spec.rate_limit.count, spec.rate_limit.period)


def job_wait_for_rate(*, job_id: Any, token: Any, wait: float) -> bool:
    """A delivery that found its rate limit's window full when it came to start: the job goes
    back to waiting (no message, no attempt spent) until the window opens. False if the
    message was stale (the job moved on)."""
    now = timezone.now()
    delivered = Job.objects.filter(pk=job_id, token=token, status=JobStatus.QUEUED, dispatched_at__isnull=False)
    gate = delivered.values_list("gate", flat=True).first()
    changed = delivered.update(dispatched_at=None, run_at=now + timedelta(seconds=wait), updated_at=now)
    if changed and gate is not None:
        schedule(gate, wait)
    elif changed:  # a job from before its type had a limit: the sweeper publishes it when due
        logger.info("job %s: over its rate limit, held for %.1fs", job_id, wait)
    return bool(changed)


def waiting_gates() -> list[str]:
    """Every gate that has waiting jobs, one index probe per gate."""
    gates: list[str] = []
    query = Job.objects.filter(WAITING, gate__isnull=False).order_by("gate").values_list("gate", flat=True)
    while True:
        following = query.filter(gate__gt=gates[-1]) if gates else query
        gate = following.first()
        if gate is None:
            return gates
        gates.append(gate)
