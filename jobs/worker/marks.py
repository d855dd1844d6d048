"""How far workers have taken each queue: the DeliveryMark rows the sweeper reads.

1. Each claim notes its message's dispatch time for its (queue, priority) in this process's
   memory: no statement on the job's path.
2. The worker's heartbeat thread writes the newest of them every JOBS_HEARTBEAT_INTERVAL,
   raising a mark and never lowering it.
3. A probe the sweeper sent through a quiet queue raises the mark to its own sending time
   when a worker takes it (`raise_mark`).
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Q

from jobs.models import DeliveryMark

logger = logging.getLogger("conveyor.worker")

_lock = threading.Lock()
_claimed: dict[tuple[str, int], datetime] = {}


def note_claimed(queue: str, priority: int, dispatched_at: datetime | None) -> None:
    """This process claimed a job whose message went out at `dispatched_at`."""
    if dispatched_at is None:
        return
    key = (queue, priority)
    with _lock:
        seen = _claimed.get(key)
        if seen is None or dispatched_at > seen:
            _claimed[key] = dispatched_at


def flush() -> None:
    """Write what this process noted since the last flush; on a database error keep it for
    the next one."""
    with _lock:
        if not _claimed:
            return
        pending = dict(_claimed)
        _claimed.clear()
    try:
        for (queue, priority), through in pending.items():
            raise_mark(queue, priority, through)
    except Exception:
        for (queue, priority), through in pending.items():
            note_claimed(queue, priority, through)
        raise


def raise_mark(queue: str, priority: int, through: datetime) -> None:
    """Raise the mark of (queue, priority) to `through` unless it is already past it."""
    marks = DeliveryMark.objects.filter(queue=queue, priority=priority)
    lower = Q(delivered_through__lt=through) | Q(delivered_through__isnull=True)
    if marks.filter(lower).update(delivered_through=through):
        return
    if marks.exists():
        return
    try:
        with transaction.atomic():
            DeliveryMark.objects.create(queue=queue, priority=priority, delivered_through=through)
    except IntegrityError:  # another worker made it first
        marks.filter(lower).update(delivered_through=through)
