"""Pausing and resuming a queue or a job type (the rule is told in `jobs.models.pause`).

    pause_set            pause (or change the reason and end time of a pause that holds)
    pause_lift           resume: the row goes, and the waiting jobs are published
    pauses_lift_ended    the sweeper's duty: pauses whose end time came are lifted
    job_hold_if_paused   a delivery whose job is paused puts it back to waiting

A paused job spends no attempt and holds no message while it waits: its delivery found the
pause in the claim's statement and put the job back without a message (`dispatched_at` NULL);
the sweeper and the gates skip it until the pause is lifted.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q, Subquery
from django.utils import timezone

from audit.actors import Actor
from audit.services import audit_record
from handlers.registry import all_handlers, all_queues, registered_types
from jobs.errors import PauseError
from jobs.models import HELD, Job, Pause, PauseKind
from jobs.services import permissions
from jobs.services.gates import admit, waiting_gates
from jobs.services.republish import publish_in_batches
from jobs.states import JobStatus

logger = logging.getLogger("conveyor.jobs")

MAX_REASON = 1000
# how long a resume publishes waiting jobs itself before leaving the rest to the sweeper
RESUME_BUDGET = 10.0


def paused_q(now: datetime | None = None) -> Q:
    """Jobs whose type or queue is paused at `now`."""
    holding = Pause.objects.holding(now)
    return (Q(type__in=Subquery(holding.filter(kind=PauseKind.TYPE).values("name")))
            | Q(queue__in=Subquery(holding.filter(kind=PauseKind.QUEUE).values("name"))))


def _validated(kind: str, name: str, until: datetime | None, reason: str, now: datetime) -> None:
    if kind not in PauseKind.values:
        raise PauseError("kind", f"{kind!r} is not a kind of pause; use one of: {', '.join(PauseKind.values)}")
    if kind == PauseKind.QUEUE and name not in all_queues():
        raise PauseError("name", f"no queue {name!r}; queues: {', '.join(all_queues())}")
    if kind == PauseKind.TYPE and name not in registered_types(tracked=True):
        raise PauseError("name", f"no job type {name!r} (a registered type with a job record); "
                                 f"types: {', '.join(registered_types(tracked=True))}")
    if until is not None and until <= now:
        raise PauseError("until", f"{until.isoformat()} is not in the future")
    if len(reason) > MAX_REASON:
        raise PauseError("reason", f"is {len(reason)} characters long, over the limit of {MAX_REASON}")


def pause_set(*, kind: str, name: str, by: Actor | None, until: datetime | None = None) -> Pause:
    """Pause a queue or a job type from now on; the reason is `by.reason`. Pausing what is
    already paused changes its reason and end time."""
    now = timezone.now()
    reason = by.reason if by is not None else ""
    _validated(kind, name, until, reason, now)
    permissions.require(by, "pause", target=f"{kind} {name}")
    user = by.user if by is not None and getattr(by.user, "pk", None) is not None else None
    with transaction.atomic():
        pause, created = Pause.objects.update_or_create(
            kind=kind, name=name,
            defaults={"reason": reason, "paused_by": user, "paused_by_name": by.label if by is not None else "system",
                      "paused_at": now, "until": until})
        audit_record(by=by, action="pause" if created else "pause.change", target_kind=kind, target_id=name,
                     outcome=f"until {until.isoformat()}" if until else "until resumed",
                     detail={"until": until.isoformat() if until else None})
    logger.warning("%s %s paused by %s%s%s", kind, name, pause.paused_by_name,
                   f" until {until.isoformat()}" if until else "", f": {reason}" if reason else "")
    return pause


def pause_lift(*, kind: str, name: str, by: Actor | None) -> int:
    """Resume a paused queue or job type; returns how many waiting jobs were published (the
    sweeper publishes any left after RESUME_BUDGET)."""
    if kind not in PauseKind.values:
        raise PauseError("kind", f"{kind!r} is not a kind of pause; use one of: {', '.join(PauseKind.values)}")
    permissions.require(by, "resume", target=f"{kind} {name}")
    with transaction.atomic():
        deleted, _ = Pause.objects.filter(kind=kind, name=name).delete()
        if not deleted:
            raise PauseError("name", f"{PauseKind(kind).label} {name!r} is not paused")
        audit_record(by=by, action="resume", target_kind=kind, target_id=name)
    published = release_waiting(kind=kind, name=name)
    logger.warning("%s %s resumed by %s; %s waiting job(s) published", kind, name,
                   by.label if by is not None else "system", published)
    return published


def release_waiting(*, kind: str, name: str, now: datetime | None = None) -> int:
    """Publish the due jobs that waited for a lifted pause (those still paused by the other
    kind of pause stay), within RESUME_BUDGET."""
    now = now or timezone.now()
    mine = Q(type=name) if kind == PauseKind.TYPE else Q(queue=name)
    held = Job.objects.held().due(now).filter(mine).exclude(paused_q(now)).order_by("priority", "queued_at")
    published = publish_in_batches(held, HELD, now, time.monotonic() + RESUME_BUDGET, "resumed")
    types = {name} if kind == PauseKind.TYPE else {spec.type for spec in all_handlers() if spec.queue == name}
    for gate in waiting_gates():
        if gate.split("|", 1)[0] in types:
            published += admit(gate, now=now)
    return published


def pauses_lift_ended(*, now: datetime | None = None) -> int:
    """Lift the pauses whose end time has come (recorded as the system's resume)."""
    now = now or timezone.now()
    lifted = 0
    for pause in Pause.objects.ended(now):
        with transaction.atomic():
            if not Pause.objects.filter(pk=pause.pk, until__lte=now).delete()[0]:
                continue
            audit_record(by=None, action="resume", target_kind=pause.kind, target_id=pause.name,
                         outcome=f"its end time {pause.until.isoformat() if pause.until else ''} came")
        release_waiting(kind=pause.kind, name=pause.name, now=now)
        logger.warning("%s %s resumed: the pause set by %s ended", pause.kind, pause.name, pause.paused_by_name)
        lifted += 1
    return lifted


def job_hold_if_paused(*, job_id: Any, token: Any, now: datetime) -> bool:
    """A claim that missed because the job's type or queue is paused: the job goes back to
    waiting without a message (its token stays; a resume gives it a new one). False when the
    miss had another cause."""
    held = Job.objects.filter(paused_q(now), pk=job_id, token=token, status=JobStatus.QUEUED,
                              dispatched_at__isnull=False).update(dispatched_at=None, updated_at=now)
    if held:
        job = Job.objects.filter(pk=job_id).values_list("type", "queue").first()
        logger.info("job %s waits: its %s is paused", job_id,
                    f"type {job[0]} or queue {job[1]}" if job else "type or queue")
    return bool(held)
