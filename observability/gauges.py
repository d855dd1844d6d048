"""The gauges of a scrape: read from the database, the broker and the liveness records, once
per JOBS_METRICS_CACHE_SECONDS for every web process and every Prometheus scraping them.

The first scrape to find the cache empty takes a short lock in Redis and computes; the
others wait a moment for its result instead of running the same GROUP BY beside it. The
result is plain JSON in Redis, so a second web host shares it too.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.db import DatabaseError

from handlers.registry import all_queues
from jobs.conf import conf
from jobs.selectors import active_pauses
from jobs.selectors.backlog import backlog
from scheduler.selectors import schedules_overdue
from telemetry import liveness, redis_client

logger = logging.getLogger("conveyor.metrics")

CACHE_KEY = "conveyor:metrics:gauges"
LOCK_KEY = "conveyor:metrics:gauges:lock"
# how long a scrape waits for another one's computation before doing its own
WAIT_FOR_OTHER = 3.0


@dataclass
class GaugeReading:
    """Everything the gauges show, as of `taken_at` (Unix time)."""

    taken_at: float
    backlog: list[dict[str, Any]] = field(default_factory=list)
    schedules_overdue: int | None = None
    # [kind, name] of every pause in force
    pauses: list[list[str]] = field(default_factory=list)
    broker_lengths: dict[str, int] = field(default_factory=dict)
    workers: list[dict[str, Any]] = field(default_factory=list)
    beat_last_tick: float | None = None
    errors: list[str] = field(default_factory=list)


# every queue a job can be published to: the settings' and every registered type's
known_queues = all_queues


def broker_list_names(queue: str) -> list[str]:
    """The Redis lists kombu keeps for one queue: one per priority step (`queue`, `queue:1`...)."""
    options: dict[str, Any] = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    sep = options.get("sep", "\x06\x16")
    steps = options.get("priority_steps") or [0]
    return [queue if step == 0 else f"{queue}{sep}{step}" for step in steps]


def read_now() -> GaugeReading:
    """Compute a reading; a part that cannot be read is named in `errors` and left out."""
    reading = GaugeReading(taken_at=time.time())
    try:
        reading.backlog = [asdict(row) for row in backlog()]
        reading.schedules_overdue = schedules_overdue().count()
        reading.pauses = [[pause.kind, pause.name] for pause in active_pauses()]
    except DatabaseError as exc:
        logger.warning("metrics: the database could not be read (%s)", exc)
        reading.errors.append("database")
    try:
        client = redis_client.client()
        queues = sorted(set(known_queues()) | {row["queue"] for row in reading.backlog})
        pipe = client.pipeline(transaction=False)
        for queue in queues:
            for name in broker_list_names(queue):
                pipe.llen(name)
        lengths = iter(pipe.execute())
        steps = len(broker_list_names(queues[0])) if queues else 0
        reading.broker_lengths = {queue: sum(next(lengths) for _ in range(steps)) for queue in queues}
        reading.workers = [asdict(worker) for worker in liveness.live_workers()]
        reading.beat_last_tick = liveness.last_beat_tick()
    except Exception as exc:  # redis-py's errors and a socket's
        logger.warning("metrics: Redis could not be read (%s)", exc)
        reading.errors.append("redis")
    return reading


def cached_reading() -> GaugeReading:
    """The shared reading if it is fresh, else a new one (computed by one scrape at a time)."""
    ttl = conf.metrics_cache_seconds
    if ttl <= 0:
        return read_now()
    try:
        client = redis_client.client()
        deadline = time.monotonic() + WAIT_FOR_OTHER
        while True:
            raw = client.get(CACHE_KEY)
            if raw is not None:
                return GaugeReading(**json.loads(raw))
            if client.set(LOCK_KEY, "1", nx=True, px=int((WAIT_FOR_OTHER + 30) * 1000)):
                break
            if time.monotonic() > deadline:
                return read_now()  # the other scrape is stuck: do not wait on it for ever
            time.sleep(0.05)
    except Exception:  # no Redis: every scrape reads for itself
        return read_now()
    try:
        reading = read_now()
        if "redis" not in reading.errors:
            client.set(CACHE_KEY, json.dumps(asdict(reading)), px=int(ttl * 1000))
        return reading
    finally:
        try:
            client.delete(LOCK_KEY)
        except Exception:
            pass
