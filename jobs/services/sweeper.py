"""The sweeper: a queued job that no message will deliver gets one, decided from the database
(the admission of waiting jobs is `jobs.services.gates`).

0. Pauses whose end time came are lifted (`jobs.services.pauses`); a paused queue or type
   gets nothing from the duties below.
1. Gates with waiting jobs are admitted again: what a crash between an execution's end and
   its admission, a lost timer, or a limit raised by a deploy left waiting.
2. Held jobs (no gate and no message: a long delay, or a publish that failed) are published
   once due.
3. Lost messages. Redis hands out each (queue, priority) list in the order it was filled,
   and workers record how far they have taken each one (`DeliveryMark`). A due job whose
   message went out more than JOBS_SWEEP_OVERTAKEN_AFTER before that mark was passed over:
   its message is gone (Redis restarted, or the worker that took it died before claiming).
   It gets a new token and a new message; the old one, if it ever comes, claims nothing.
   Jobs in a backlog are behind the mark, so no healthy message is republished, however
   long the backlog.
4. A queue where nothing moves overtakes nothing: once a due job there has waited
   JOBS_SWEEP_UNCLAIMED_AFTER, a probe goes through that queue at that priority (at most one
   per that period), and the worker that takes it raises the mark to the probe's sending time.
Each pass works through everything it finds, a batch per transaction, within a time budget.

Which jobs each duty takes are the Job queryset's named states (`jobs.models`): `held().due()`,
`overtaken(through=mark)` and, for the probe, `sent().late()`. Together these are
`Job.objects.unclaimed(now)`, the admin's "unclaimed" filter: the sweeper narrows that set per
queue and priority with the marks it read at the start of the pass, and the probe is at most
one per queue, priority and JOBS_SWEEP_UNCLAIMED_AFTER.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from django.utils import timezone

from handlers.registry import all_handlers
from jobs import publishing
from jobs.conf import conf
from jobs.models import HELD, SENT, DeliveryMark, Job
from jobs.services.expiry import jobs_expire_overdue
from jobs.services.gates import admit, describe, waiting_gates
from jobs.services.pauses import paused_q, pauses_lift_ended
from jobs.services.republish import publish_in_batches

logger = logging.getLogger("conveyor.jobs")

# a pass stops starting new batches after this long; the next pass goes on
PASS_BUDGET = 60.0
PRIORITIES = range(1, 11)


def publish_held(*, now: datetime, deadline: float) -> int:
    """Held jobs that are due, unless paused: published, most urgent first."""
    query = Job.objects.held().due(now).exclude(paused_q(now)).order_by("priority", "queued_at")
    return publish_in_batches(query, HELD, now, deadline, "held")


def admit_waiting() -> int:
    """Every gate with waiting jobs admitted as far as its limit has room."""
    admitted = 0
    for gate in waiting_gates():
        try:
            admitted += admit(gate)
        except Exception as exc:  # one gate's trouble (Redis for a rate) does not stop the others
            logger.warning("sweeper: gate %s not admitted (%s)", describe(gate), exc)
    return admitted


def _queues(marks: dict[tuple[str, int], DeliveryMark]) -> set[str]:
    """Every queue a job may wait in: configured, named by a handler, or seen by workers."""
    queues = set(conf.queues)
    queues.update(spec.queue for spec in all_handlers() if spec.tracked)
    queues.update(queue for queue, _ in marks)
    return queues


def republish_lost(*, now: datetime, deadline: float) -> int:
    """Jobs whose message the queue's mark shows passed over: published again. Quiet queues
    with a late job (due and waiting for JOBS_SWEEP_UNCLAIMED_AFTER) get a probe."""
    unclaimed_after = timedelta(seconds=conf.sweep_unclaimed_after)
    margin = timedelta(seconds=conf.sweep_overtaken_after)
    marks = {(m.queue, m.priority): m for m in DeliveryMark.objects.all()}
    republished = 0
    for queue in sorted(_queues(marks)):
        for priority in PRIORITIES:
            mine = Job.objects.filter(queue=queue, priority=priority)
            if not mine.sent().due(now - margin).exists():  # one index probe for a quiet list
                continue
            mark = marks.get((queue, priority))
            through = mark.delivered_through if mark is not None else None
            lost = mine.overtaken(now, through=through) if through is not None else None
            if through is not None and lost is not None and lost.exists():
                found = publish_in_batches(lost.order_by("dispatched_at"), SENT, now, deadline, "lost")
                republished += found
                logger.warning("sweeper: %s job(s) of queue %s at priority %s lost their message (passed over by "
                               "messages sent up to %s); published again", found, queue, priority,
                               through.isoformat())
            elif mine.sent().late(now).exists():
                _probe(queue, priority, mark, now, unclaimed_after)
    return republished


def _probe(queue: str, priority: int, mark: DeliveryMark | None, now: datetime, every: timedelta) -> None:
    if mark is not None and mark.probe_sent_at is not None and mark.probe_sent_at > now - every:
        return
    try:
        publishing.send_probe(queue=queue, priority=priority, sent_at=now.isoformat())
    except Exception as exc:
        logger.warning("sweeper: probe for queue %s at priority %s not sent (%s)", queue, priority, exc)
        return
    if mark is None:
        DeliveryMark.objects.get_or_create(queue=queue, priority=priority, defaults={"probe_sent_at": now})
    else:
        DeliveryMark.objects.filter(pk=mark.pk).update(probe_sent_at=now)
    logger.info("sweeper: probe sent through queue %s at priority %s, where a due job has waited over %ss",
                queue, priority, conf.sweep_unclaimed_after)


def sweep(*, now: datetime | None = None) -> int:
    """One pass of the three duties above; returns how many jobs got a message."""
    now = now or timezone.now()
    deadline = time.monotonic() + PASS_BUDGET
    pauses_lift_ended(now=now)
    admitted = admit_waiting()  # first: a gate whose type lost its limit hands its jobs to the next step
    held = publish_held(now=now, deadline=deadline)
    if held:
        logger.warning("sweeper published %s held job(s)", held)
    return held + admitted + republish_lost(now=now, deadline=deadline)


def jobs_sweep(*, limit: int = 1000) -> int:
    """The periodic task's sweep: one pass of the duties above, then the queued jobs past their
    queue-wait timeout failed (`limit` of them per pass, `jobs.services.expiry`). Returns how
    many jobs got a message."""
    now = timezone.now()
    swept = sweep(now=now)
    jobs_expire_overdue(now=now, limit=limit)
    return swept
