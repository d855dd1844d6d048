"""An operator's pause of a schedule, and its resumption; either kind of schedule.

`paused` is separate from `enabled` (the definition's own switch) so that the sync of the
system schedules, which rewrites `enabled` from the code, never undoes a pause.
"""
from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from audit.actors import Actor
from scheduler.models import ScheduledJob
from scheduler.services.auditing import schedule_audited
from scheduler.services.beat import beat_update
from scheduler.services.timing import first_run

logger = logging.getLogger("conveyor.scheduler")


def schedule_pause(*, schedule: ScheduledJob, now: datetime | None = None, by: Actor | None = None) -> ScheduledJob:
    """Stop firing (either kind) until resumed; a system schedule stays paused across syncs."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = ScheduledJob.objects.select_for_update().get(pk=schedule.pk)
        schedule_audited(by, "pause", locked)
        if not locked.paused:
            locked.paused = True
            locked.updated_at = now
            locked.save(update_fields=["paused", "updated_at"])
        beat_update(locked)
    logger.info("%s paused", locked)
    return locked


def schedule_resume(*, schedule: ScheduledJob, now: datetime | None = None, by: Actor | None = None) -> ScheduledJob:
    """Fire again from the next tick after now: ticks that passed while paused are not caught up."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = ScheduledJob.objects.select_for_update().get(pk=schedule.pk)
        schedule_audited(by, "resume", locked)
        if locked.paused:
            locked.paused = False
            locked.next_run_at = first_run(locked, now) if locked.enabled else None
            locked.updated_at = now
            locked.save(update_fields=["paused", "next_run_at", "updated_at"])
        beat_update(locked)
    logger.info("%s resumed, next run %s", locked, locked.next_run_at)
    return locked
