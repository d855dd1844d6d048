"""The Celery side of publishing: send run_job to a type's queue, and read queue depths.

Only `jobs.services` calls this, after a commit; it decides what to do when sending fails.
"""
from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings


def broker_priority(job_priority: int) -> int:
    """Job priority 1 (most urgent) .. 10 onto the Redis transport's 0 (first) .. 9."""
    return max(0, min(9, job_priority - 1))


def send_run_job(*, job_id: Any, token: uuid.UUID, queue: str, priority: int, countdown: float | None) -> None:
    """Publish run_job(job_id, token). Raises if the broker cannot be reached in time."""
    from jobs.tasks import run_job

    run_job.apply_async(
        args=[str(job_id), str(token)],
        queue=queue,
        priority=broker_priority(priority),
        countdown=countdown,
        retry=True,
        retry_policy={
            "max_retries": settings.JOBS_PUBLISH_MAX_RETRIES,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
    )


def queue_sizes(queues: set[str]) -> dict[str, int]:
    """Messages waiting in each queue (all priorities); -1 where the broker did not answer."""
    from config.celery import app

    sizes: dict[str, int] = {}
    with app.connection_for_read() as conn:
        channel = conn.default_channel
        for queue in queues:
            try:
                sizes[queue] = int(channel._size(queue))
            except Exception:
                sizes[queue] = -1  # unknown: do not republish on a guess
    return sizes
