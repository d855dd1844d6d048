"""The Celery side of publishing: send run_job to a type's queue, and read queue depths.

Only `jobs.publishing` and the gates and the sweeper call this, after a commit; the caller
decides what to do when sending fails. `jobs.testing` can switch the mode so that
applications' tests run jobs inline or only record them.

Publishing goes through Celery's own message builder and sender (`app.amqp.as_task_v2`,
`app.amqp.send_task_message`: the same headers, signals, retry policy and priority queues as
`run_job.apply_async`) on a producer kept for reuse, without the per-call work of
`apply_async` that a job never needs (routing, argument checks, option merging, a `repr` of
the arguments, a lookup of Celery's settings on every call). kombu's Redis channel builds a
new `redis.Redis` client object for every message it publishes (~50 us); the channel of these
producers builds one and keeps it (the socket itself comes from the channel's pool either
way). Many messages go in Redis pipelines through kombu's `Producer.batch`, a thousand per
round trip.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from kombu.transport import redis as kombu_redis

RUN_JOB = "jobs.run_job"
# messages per Redis pipeline (one round trip) when many are published at once
BATCH_SIZE = 1000


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


class PublishIncomplete(Exception):
    """A batch publish stopped: the first `sent` messages were handed to Redis, the others
    may or may not have been."""

    def __init__(self, sent: int, cause: BaseException) -> None:
        super().__init__(f"{sent} message(s) sent before: {cause!r}")
        self.sent = sent
        self.cause = cause


# set by jobs.testing; None means settings.JOBS_DISPATCH_MODE
mode_override: str | None = None
recorded: list[Recorded] = []

# (job_id, token, job_type, queue, priority): one run_job message
RunJobMessage = tuple[Any, uuid.UUID, str, str, int]


def current_mode() -> str:
    return mode_override or settings.JOBS_DISPATCH_MODE


def _retry_policy() -> dict[str, float]:
    return {"max_retries": settings.JOBS_PUBLISH_MAX_RETRIES, "interval_start": 0, "interval_step": 0.2,
            "interval_max": 0.5}


def send_run_job(
    *, job_id: Any, token: uuid.UUID, job_type: str, queue: str, priority: int, countdown: float | None,
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
    with _publisher() as publisher:
        publisher.send(job_id, token, job_type, queue, priority, countdown, retry=True)


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
        with _publisher() as publisher:
            publisher.ready()
            producer = publisher.producer
            for start in range(0, len(messages), BATCH_SIZE):
                chunk = messages[start:start + BATCH_SIZE]
                # the chunk's commands go in one pipeline, sent when the block ends (or when
                # it holds max_size commands); an error inside the block discards it
                with producer.batch(max_size=len(chunk)):
                    for job_id, token, job_type, queue, priority in chunk:
                        publisher.send(job_id, token, job_type, queue, priority, None, retry=False)
                sent += len(chunk)
    except Exception as exc:
        raise PublishIncomplete(sent, exc) from exc


# --- the producers ----------------------------------------------------------------------------


class _PublishChannel(kombu_redis.Channel):
    """kombu's Redis channel, with one client object for all its commands instead of a new
    one per publish. A client holds no connection of its own (it takes one from the channel's
    pool per command), so sharing it changes nothing but the cost."""

    _shared_client: Any = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:
            return super()._create_client(asynchronous=True)
        if self._shared_client is None:
            self._shared_client = super()._create_client()
        return self._shared_client


class _PublishTransport(kombu_redis.Transport):
    Channel = _PublishChannel


class _Publisher:
    """A broker connection and its producer, used by one thread at a time.

    Tied to the Celery app's connection pool of the moment: when Celery replaces that pool
    (after a fork, or a change of broker URL), publishers made for the old one are dropped.
    """

    def __init__(self, app: Any, pool: Any) -> None:
        self.app = app
        self.pool = pool
        self.pid = os.getpid()
        conn = app.connection_for_write()
        if conn.get_transport_cls() is kombu_redis.Transport:
            conn.transport_cls = _PublishTransport
        # what Producer.publish(retry=True) would set on its first call; a batch publishes
        # without retry, and its connection must give up as soon
        conn.transport_options.update(_retry_policy())
        self.connection = conn
        self.producer = app.amqp.Producer(conn)
        self.amqp = app.amqp
        # what apply_async reads from the task and the settings on every call
        from jobs.tasks import run_job

        self.ignore_result = bool(run_job.ignore_result)
        self.sent_event = bool(app.conf.task_send_sent_event)
        self.declared: set[str] = set()

    def ready(self) -> None:
        """Connect now (within the retry policy), so that a batch only buffers and flushes."""
        self.producer.channel  # noqa: B018 - opens the connection and the channel

    def send(self, job_id: Any, token: Any, job_type: str, queue: str, priority: int, countdown: float | None,
             *, retry: bool) -> None:
        from handlers.registry import get_handler

        app = self.app
        args = [str(job_id), str(token)]
        kwargs: dict[str, Any] = {"job_type": job_type}
        spec = get_handler(job_type)
        timeout = spec.timeout if spec is not None else None
        task_id = str(uuid.uuid4())
        root_id = parent_id = None
        parent = app.current_worker_task
        if parent is not None:  # a job created by a running task, as apply_async links it
            root_id = parent.request.root_id or parent.request.id
            parent_id = parent.request.id
        message = self.amqp.as_task_v2(
            task_id, RUN_JOB, args, kwargs, countdown=countdown,
            time_limit=timeout.hard if timeout is not None else None,
            soft_time_limit=timeout.soft if timeout is not None else None,
            reply_to=app.thread_oid, create_sent_event=self.sent_event, root_id=root_id, parent_id=parent_id,
            argsrepr=repr(args), kwargsrepr=repr(kwargs), ignore_result=self.ignore_result,
        )
        # kombu declares a queue once per connection anyway; skip even asking after that
        declare = [] if queue in self.declared else None
        self.amqp.send_task_message(
            self.producer, RUN_JOB, message, queue=queue, priority=broker_priority(priority), retry=retry,
            retry_policy=_retry_policy(), declare=declare,
        )
        self.declared.add(queue)
        if parent is not None:
            parent.add_trail(app.AsyncResult(task_id))

    def discard(self) -> None:
        if self.pid != os.getpid():
            return  # the parent's sockets: leave them to the parent
        try:
            self.connection.release()
        except Exception:
            pass


# Idle publishers, most recently used last: one per thread publishing at the same moment.
_idle: list[_Publisher] = []


@contextmanager
def _publisher() -> Iterator[_Publisher]:
    from config.celery import app

    pool = app.pool
    publisher = None
    while publisher is None and _idle:
        try:
            candidate = _idle.pop()
        except IndexError:  # another thread took the last one
            break
        if candidate.pool is pool and candidate.pid == os.getpid():
            publisher = candidate
        else:
            candidate.discard()
    if publisher is None:
        publisher = _Publisher(app, pool)
    try:
        yield publisher
    except BaseException:
        publisher.discard()  # its connection may be half-way through something
        raise
    _idle.append(publisher)


def reset_publishers() -> None:
    """Close the idle publishers (tests switching brokers; a process shutting down)."""
    while _idle:
        try:
            _idle.pop().discard()
        except IndexError:
            break


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


def send_admission(*, gate: str, countdown: float) -> None:
    """Publish admit_waiting(gate) to run in `countdown` seconds: the moment a rate limit's
    window or a retry's backoff lets a waiting job of that gate run."""
    from jobs.tasks import admit_waiting

    if current_mode() == "record":
        recorded.append(Recorded(gate, "", "admit_waiting", settings.JOBS_SYSTEM_QUEUE, 5, countdown))
        return
    if current_mode() == "inline":
        return  # inline runs ignore limits and countdowns: nothing waits
    admit_waiting.apply_async(args=[gate], countdown=countdown, queue=settings.JOBS_SYSTEM_QUEUE, retry=True,
                              retry_policy=_retry_policy())


def send_probe(*, queue: str, priority: int, sent_at: str) -> None:
    """Publish note_delivery(queue, priority, sent_at) into `queue` at the Redis priority of
    job priority `priority`: the worker that takes it has taken every message sent before."""
    from jobs.tasks import note_delivery

    if current_mode() != "broker":
        return
    note_delivery.apply_async(args=[queue, priority, sent_at], queue=queue, priority=broker_priority(priority),
                              retry=True, retry_policy=_retry_policy())
