"""Reading pauses: which hold, and which one holds a given job back."""
from __future__ import annotations

from datetime import datetime

from django.db.models import Q

from jobs.models import Pause, PauseKind


def active_pauses(now: datetime | None = None) -> list[Pause]:
    """Every pause in force, queues first."""
    return list(Pause.objects.holding(now).order_by("kind", "name"))


def pause_of(*, job_type: str, queue: str, now: datetime | None = None) -> Pause | None:
    """The pause that holds a job of this type and queue back, if any (its type's first)."""
    pauses = Pause.objects.holding(now).filter(Q(kind=PauseKind.TYPE, name=job_type) | Q(kind=PauseKind.QUEUE,
                                                                                        name=queue))
    return pauses.order_by("-kind").first()
