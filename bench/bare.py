"""Bare Celery for the benchmark: a no-op task on the same broker with the same worker
settings as Conveyor (JSON, acks_late, reject on worker lost, prefetch 1), no result store.

Each run records its start time in Redis so that the bench can compute the drain rate and
the enqueue -> start latency the same way it does for tracked jobs.
"""
from __future__ import annotations

import os
import time

import redis
from celery import Celery

from telemetry.redis_client import redis_client_url

BROKER = os.environ["BENCH_BROKER_URL"]

app = Celery("bare", broker=BROKER)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    task_default_queue="bench-bare",
    broker_transport_options={"priority_steps": list(range(10)), "queue_order_strategy": "priority", "sep": ":"},
)
_redis = redis.Redis.from_url(redis_client_url(BROKER))


@app.task(name="bench.bare_noop")
def noop(sent_at: float) -> None:
    now = time.time()
    pipe = _redis.pipeline(transaction=False)
    pipe.rpush("bench:bare:starts", f"{sent_at:.6f} {now:.6f}")
    pipe.execute()
