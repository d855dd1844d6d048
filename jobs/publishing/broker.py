"""The broker side of publishing: send the platform's tasks by name, one message or many.

Only the on-commit publishers (`jobs.publishing.on_commit`), the gates and the sweeper call
this, after a commit; the caller decides what to do when sending fails. `jobs.testing` can
switch the mode (`jobs.publishing.modes`) so that applications' tests run jobs inline or only
record them. Many messages go in Redis pipelines through kombu's `Producer.batch`, a thousand
per round trip. Tasks other than run_job go through `app.send_task`, which is what their
`apply_async` does, with the task's options spelled out (`ignore_result` for the timers).
"""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from config.celery import app as celery_app
from jobs.conf import conf
from jobs.publishing.modes import Recorded, current_mode, inline_runner, recorded
from jobs.publishing.producers import broker_priority, publisher, retry_policy
from jobs.publishing.task_names import ADMIT_WAITING, NOTE_DELIVERY, RUN_UNTRACKED_JOB

# messages per Redis pipeline (one round trip) when many are published at once
BATCH_SIZE = 1000

# (job_id, token, job_type, queue, priority): one run_job message
RunJobMessage = tuple[Any, uuid.UUID, str, str, int]


class PublishIncomplete(Exception):
    """A batch publish stopped: the first `sent` messages were handed to Redis, the others
    may or may not have been."""

    def __init__(self, sent: int, cause: BaseException) -> None:
        super().__init__(f"{sent} message(s) sent before: {cause!r}")
        self.sent = sent
        self.cause = cause


def send_run_job(
    *, job_id: Any, token: uuid.UUID, job_type: str, queue: str, priority: int, countdown: float | None,
) -> None:
    """Publish run_job(job_id, token). Raises if the broker cannot be reached in time."""
    mode = current_mode()
    if mode == "record":
        recorded.append(Recorded(str(job_id), str(token), job_type, queue, priority, countdown))
        return
    if mode == "inline":
        inline_runner().run_job(str(job_id), str(token))
        return
    with publisher() as sender:
        sender.send(job_id, token, job_type, queue, priority, countdown, retry=True)


def send_run_jobs(messages: Sequence[RunJobMessage]) -> None:
    """Publish many run_job messages on one producer, a Redis pipeline per BATCH_SIZE.

    Raises PublishIncomplete, saying how many went out, if the broker fails on the way."""
    if current_mode() != "broker":
        for job_id, token, job_type, queue, priority in messages:
            send_run_job(job_id=job_id, token=token, job_type=job_type, queue=queue, priority=priority,
                         countdown=None)
        return
    sent = 0
    try:
        with publisher() as sender:
            sender.ready()
            producer = sender.producer
            for start in range(0, len(messages), BATCH_SIZE):
                chunk = messages[start:start + BATCH_SIZE]
                # the chunk's commands go in one pipeline, sent when the block ends (or when
                # it holds max_size commands); an error inside the block discards it
                with producer.batch(max_size=len(chunk)):
                    for job_id, token, job_type, queue, priority in chunk:
                        sender.send(job_id, token, job_type, queue, priority, None, retry=False)
                sent += len(chunk)
    except Exception as exc:
        raise PublishIncomplete(sent, exc) from exc


def send_untracked_job(*, job_type: str, payload: dict[str, Any], queue: str) -> str:
    """Publish run_untracked_job(job_type, payload), an untracked job (no Job row); returns the task id."""
    mode = current_mode()
    if mode == "record":
        task_id = f"system_{uuid.uuid4().hex}"
        recorded.append(Recorded(task_id, "", job_type, queue, 5, None, {"input": payload}))
        return task_id
    if mode == "inline":
        return inline_runner().run_untracked(job_type, payload)
    # run_untracked_job declares no ignore_result of its own: the app's, as its apply_async sends
    result = celery_app.send_task(RUN_UNTRACKED_JOB, args=[job_type, payload], queue=queue,
                                  ignore_result=bool(celery_app.conf.task_ignore_result), retry=True,
                                  retry_policy=retry_policy())
    return str(result.id)


def send_admission(*, gate: str, countdown: float) -> None:
    """Publish admit_waiting(gate) to run in `countdown` seconds: the moment a rate limit's
    window or a retry's backoff lets a waiting job of that gate run."""
    mode = current_mode()
    if mode == "record":
        recorded.append(Recorded(gate, "", "admit_waiting", conf.system_queue, 5, countdown))
        return
    if mode == "inline":
        return  # inline runs ignore limits and countdowns: nothing waits
    celery_app.send_task(ADMIT_WAITING, args=[gate], countdown=countdown, queue=conf.system_queue,
                         ignore_result=True, retry=True, retry_policy=retry_policy())


def send_probe(*, queue: str, priority: int, sent_at: str) -> None:
    """Publish note_delivery(queue, priority, sent_at) into `queue` at the Redis priority of
    job priority `priority`: the worker that takes it has taken every message sent before."""
    if current_mode() != "broker":
        return
    celery_app.send_task(NOTE_DELIVERY, args=[queue, priority, sent_at], queue=queue,
                         priority=broker_priority(priority), ignore_result=True, retry=True,
                         retry_policy=retry_policy())
