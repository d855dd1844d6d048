"""Broker producers kept for reuse, and the one message builder every run_job goes through.

Publishing goes through Celery's own message builder and sender (`app.amqp.as_task_v2`,
`app.amqp.send_task_message`: the same headers, signals, retry policy and priority queues as
`run_job.apply_async`) on a producer kept for reuse, without the per-call work of
`apply_async` that a job never needs (routing, argument checks, option merging, a `repr` of
the arguments, a lookup of Celery's settings on every call). kombu's Redis channel builds a
new `redis.Redis` client object for every message it publishes (~50 us); the channel of these
producers builds one and keeps it (the socket itself comes from the channel's pool either
way).

Each message's task id is derived from its job id and token (`run_job_task_id`), so that the
admin can name a job's current task (and link to it in Flower) without a column written on
every publish.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import Celery
from kombu.transport import redis as kombu_redis

from config.celery import app as celery_app
from handlers.registry import get_handler
from jobs.conf import conf
from jobs.models import run_job_task_id
from jobs.publishing.task_names import RUN_JOB


def broker_priority(job_priority: int) -> int:
    """Job priority 1 (most urgent) .. 10 onto the Redis transport's 0 (first) .. 9."""
    return max(0, min(9, job_priority - 1))


def retry_policy() -> dict[str, float]:
    """How long a publish keeps trying to reach the broker before it raises."""
    return {"max_retries": conf.publish_max_retries, "interval_start": 0, "interval_step": 0.2,
            "interval_max": 0.5}


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


class Publisher:
    """A broker connection and its producer, used by one thread at a time.

    Tied to the Celery app's connection pool of the moment: when Celery replaces that pool
    (after a fork, or a change of broker URL), publishers made for the old one are dropped.
    """

    def __init__(self, app: Celery, pool: Any) -> None:
        self.app = app
        self.pool = pool
        self.pid = os.getpid()
        conn = app.connection_for_write()
        if conn.get_transport_cls() is kombu_redis.Transport:
            conn.transport_cls = _PublishTransport
        # what Producer.publish(retry=True) would set on its first call; a batch publishes
        # without retry, and its connection must give up as soon
        conn.transport_options.update(retry_policy())
        self.connection = conn
        self.producer = app.amqp.Producer(conn)
        self.amqp = app.amqp
        # what apply_async reads from the task and the settings on every call; run_job sets
        # no ignore_result of its own, so it is the app's
        self.ignore_result = bool(app.conf.task_ignore_result)
        self.sent_event = bool(app.conf.task_send_sent_event)
        self.declared: set[str] = set()

    def ready(self) -> None:
        """Connect now (within the retry policy), so that a batch only buffers and flushes."""
        self.producer.channel  # noqa: B018 - opens the connection and the channel

    def send(self, job_id: Any, token: Any, job_type: str, queue: str, priority: int, countdown: float | None,
             *, retry: bool) -> None:
        """Publish run_job(job_id, token, job_type=...) to `queue`."""
        app = self.app
        args = [str(job_id), str(token)]
        kwargs: dict[str, Any] = {"job_type": job_type}
        spec = get_handler(job_type)
        timeout = spec.timeout if spec is not None else None
        task_id = run_job_task_id(args[0], args[1])
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
        declare: list[Any] | None = [] if queue in self.declared else None
        self.amqp.send_task_message(
            self.producer, RUN_JOB, message, queue=queue, priority=broker_priority(priority), retry=retry,
            retry_policy=retry_policy(), declare=declare,
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
_idle: list[Publisher] = []


@contextmanager
def publisher() -> Iterator[Publisher]:
    """An idle publisher of this process and the app's current pool, or a new one."""
    pool = celery_app.pool
    found = None
    while found is None and _idle:
        try:
            candidate = _idle.pop()
        except IndexError:  # another thread took the last one
            break
        if candidate.pool is pool and candidate.pid == os.getpid():
            found = candidate
        else:
            candidate.discard()
    if found is None:
        found = Publisher(celery_app, pool)
    try:
        yield found
    except BaseException:
        found.discard()  # its connection may be half-way through something
        raise
    _idle.append(found)


def reset_publishers() -> None:
    """Close the idle publishers (tests switching brokers; a process shutting down)."""
    while _idle:
        try:
            _idle.pop().discard()
        except IndexError:
            break
