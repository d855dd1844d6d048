"""Giving queued jobs a new token and a message, in batches: what the sweeper does for held
and lost jobs, and a resume for the jobs a pause held back."""
from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet

from jobs import publishing
from jobs.models import Job
from jobs.services import reporting

BATCH = 500


def _republish(rows: list[tuple[Any, ...]], guard: Q, now: datetime, reason: str) -> int:
    """New tokens and messages for (pk, token, type, queue, priority) rows still matching
    `guard`, in one transaction; published after it commits."""
    messages = []
    with transaction.atomic():
        for job_id, old_token, *rest in rows:
            token = uuid.uuid4()
            if Job.objects.filter(guard, pk=job_id, token=old_token).update(token=token, dispatched_at=now,
                                                                            updated_at=now):
                messages.append((job_id, token, *rest))
        if messages:
            publishing.publish_many_on_commit(messages)
    for queue, count in Counter(message[3] for message in messages).items():
        reporting.republished(queue, reason, count)
    return len(messages)


def publish_in_batches(query: QuerySet[Job], guard: Q, now: datetime, deadline: float, reason: str) -> int:
    """`query`'s jobs (still matching `guard`) published, a batch per transaction, until done
    or `deadline` (time.monotonic)."""
    done = 0
    while time.monotonic() < deadline:
        rows = list(query.values_list("pk", "token", "type", "queue", "priority")[:BATCH])
        done += _republish(rows, guard, now, reason)
        if len(rows) < BATCH:
            break
    return done
