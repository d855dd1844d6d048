"""The bench's job types: the tracked no-op, and the concurrency-limited types of the limited
backlog (`bench.limited`), which sleep the milliseconds their input says.

The limited part counts from the Celery side, in Redis (the bench's own database):
- every task its workers execute, by task name (a `task_prerun` receiver, connected only in
  workers started with BENCH_COUNT_DELIVERIES=1, so the other parts' figures carry no extra
  round trip); a `jobs.run_job` delivery whose job had no free slot counts as much as one that
  ran;
- every run of a limited handler.
"""
from __future__ import annotations

import os
import time
from typing import Any

import redis
from celery.signals import task_prerun

from bench.limited import DELIVERIES_KEY, LIMITED, LIMITED_KEYED, RUNS_KEY
from handlers import JobContext, handler

# the limit of `bench.limited`; the bench sets it for itself and its workers (--limited-concurrency)
LIMITED_CONCURRENCY = int(os.environ.get("BENCH_LIMITED_CONCURRENCY", "1"))

_client: redis.Redis | None = None
_client_pid: int | None = None


def counters() -> redis.Redis:
    """This process's client of the bench's Redis (a new one after a fork)."""
    global _client, _client_pid
    if _client is None or _client_pid != os.getpid():
        from telemetry.redis_client import redis_client_url

        _client = redis.Redis.from_url(redis_client_url(os.environ["BENCH_BROKER_URL"]))
        _client_pid = os.getpid()
    return _client


@handler("bench.noop")
def noop(ctx: JobContext) -> dict[str, Any]:
    """Returns at once."""
    return {}


def _sleep(ctx: JobContext) -> dict[str, Any]:
    counters().incr(RUNS_KEY)
    time.sleep(ctx.input.get("ms", 20) / 1000)
    return {}


@handler(LIMITED, concurrency=LIMITED_CONCURRENCY)
def limited(ctx: JobContext) -> dict[str, Any]:
    """Sleeps input.ms milliseconds; at most BENCH_LIMITED_CONCURRENCY at a time."""
    return _sleep(ctx)


@handler(LIMITED_KEYED, concurrency=1, concurrency_key="input.key")
def limited_keyed(ctx: JobContext) -> dict[str, Any]:
    """Sleeps input.ms milliseconds; one at a time per input.key."""
    return _sleep(ctx)


def _count_delivery(sender: Any = None, **_: Any) -> None:
    counters().hincrby(DELIVERIES_KEY, getattr(sender, "name", None) or "?", 1)


if os.environ.get("BENCH_COUNT_DELIVERIES") == "1":
    task_prerun.connect(_count_delivery, weak=False)
