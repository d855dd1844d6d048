"""The Celery side of publishing: send run_job to a type's queue, and read queue depths.

Only `jobs.services` (and the runner, to offer a job again later) calls this, after a commit;
the caller decides what to do when sending fails. `jobs.testing` can switch the mode so that
applications' tests run jobs inline or only record them.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings


def broker_priority(job_priority: int) -> int:
    """Job priority 1 (most urgent) .. 10 onto the Redis transport's 0 (first) .. 9."""
    return max(0, min(9, job_priority - 1))


@dataclass
class Recorded:
    """A publish that `jobs.testing.jobs_recorded()` kept instead of sending."""

    job_id: str
    token: str
    job_type: str
    queue: str
    priority: int
    countdown: float | None
    extra: dict[str, Any] = field(default_factory=dict)


# set by jobs.testing; None means settings.JOBS_DISPATCH_MODE
mode_override: str | None = None
recorded: list[Recorded] = []


def current_mode() -> str:
    return mode_override or settings.JOBS_DISPATCH_MODE


def _retry_policy() -> dict[str, float]:
    return {"max_retries": settings.JOBS_PUBLISH_MAX_RETRIES, "interval_start": 0, "interval_step": 0.2,
            "interval_max": 0.5}


def send_run_job(
    *, job_id: Any, token: uuid.UUID, job_type: str, queue: str, priority: int, concurrency_key: str | None,
    countdown: float | None,
) -> None:
    """Publish run_job(job_id, token). Raises if the broker cannot be reached in time."""
    mode = current_mode()
    if mode == "record":
        recorded.append(Recorded(str(job_id), str(token), job_type, queue, priority, countdown))
        return
    if mode == "inline":
        from jobs.execution import execute

        execute(str(job_id), str(token), worker="inline", apply_limits=False, heartbeat=False)
        return
    _apply(job_id, token, job_type, queue, priority, concurrency_key, countdown)


def send_run_jobs(messages: list[tuple[Any, uuid.UUID, str, str, int, str | None]]) -> None:
    """Publish many run_job messages on one connection and producer (bulk creation)."""
    from config.celery import app

    if current_mode() != "broker":
        for job_id, token, job_type, queue, priority, key in messages:
            send_run_job(job_id=job_id, token=token, job_type=job_type, queue=queue, priority=priority,
                         concurrency_key=key, countdown=None)
        return
    # kombu's publish batch buffers the LPUSHes in one Redis pipeline per thousand messages
    with app.producer_or_acquire() as producer, producer.batch(max_size=1000):
        for job_id, token, job_type, queue, priority, key in messages:
            _apply(job_id, token, job_type, queue, priority, key, None, producer=producer)


def _apply(job_id: Any, token: uuid.UUID, job_type: str, queue: str, priority: int, concurrency_key: str | None,
           countdown: float | None, producer: Any = None) -> None:
    from handlers.registry import get_handler
    from jobs.tasks import run_job

    options: dict[str, Any] = {}
    spec = get_handler(job_type)
    if spec is not None and spec.timeout is not None:
        options = {"soft_time_limit": spec.timeout.soft, "time_limit": spec.timeout.hard}
    kwargs = {"job_type": job_type}
    if concurrency_key is not None:
        kwargs["concurrency_key"] = concurrency_key
    run_job.apply_async(
        args=[str(job_id), str(token)],
        kwargs=kwargs,
        queue=queue,
        priority=broker_priority(priority),
        countdown=countdown,
        retry=True,
        retry_policy=_retry_policy(),
        producer=producer,
        **options,
    )


def send_system_job(*, job_type: str, payload: dict[str, Any], queue: str) -> str:
    """Publish run_system_job(job_type, payload); returns the task id."""
    from jobs.tasks import run_system_job

    if current_mode() == "record":
        task_id = f"system_{uuid.uuid4().hex}"
        recorded.append(Recorded(task_id, "", job_type, queue, 5, None, {"input": payload}))
        return task_id
    if current_mode() == "inline":
        result = run_system_job.apply(args=[job_type, payload])
        return str(result.id)
    return str(run_system_job.apply_async(args=[job_type, payload], queue=queue, retry=True,
                                          retry_policy=_retry_policy()).id)


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
