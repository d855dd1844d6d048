"""The drain part (`--only drain`) and the bulk enqueue (`--only bulk`).

Bare Celery and tracked jobs go through the same steps: enqueued one by one while no worker
consumes, then drained by workers that were started idle, so that neither the enqueue nor the
workers' start-up is in the drain rate or the workers' CPU. Each drain runs once per task
events setting (`--events`), both sides under the same one; nothing consumes the events, so
the figures are what sending them costs the workers (and Redis), not Flower's own work. The
Redis PUBLISHes per job count them: a worker sends its task events in batches (as
"task.multi" messages), one or two PUBLISHes per job rather than one per event.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from types import SimpleNamespace

from bench import limited
from bench.environment import Bench
from bench.machine import cpu_seconds
from bench.workers import Workers, wait_until


def runs(bench: Bench, pool: str, repetition: int) -> Iterator[tuple[str, dict[str, float]]]:
    """(name in the results, figures) of each drain run with the worker setting `pool`."""
    settings = bench.args.events
    # every other repetition in the other order, so that a drift of the machine's speed
    # during a repetition does not always favour the same setting
    for events in (settings if repetition % 2 == 0 else settings[::-1]):
        on = events == "on"
        yield f"bare_{pool}_events_{events}", bare_drain(bench, pool, on)
        yield f"tracked_{pool}_events_{events}", tracked_drain(bench, pool, on)
    make_workers = partial(Workers, "config", pool=pool, env=bench.env, log_dir=bench.scratch)
    yield from limited.runs(bench, pool, make_workers, cpu_seconds).items()


def bare_drain(bench: Bench, pool: str, events: bool) -> dict[str, float]:
    # bench.bare reads the broker's address on import, which the environment sets
    from bench import bare

    bench.reset()
    n = bench.args.jobs

    def span() -> float:
        starts = [float(row.split()[1]) for row in bench.redis.lrange("bench:bare:starts", 0, -1)]
        return max(starts) - min(starts)

    return _drain(bench, n, lambda: bare.noop.apply_async(args=[time.time()]),
                  Workers("bench.bare", "bench-bare", pool, bench.env, bench.scratch, events=events),
                  lambda: bench.redis.llen("bench:bare:starts") >= n, 600, "bare Celery to drain", span)


def tracked_drain(bench: Bench, pool: str, events: bool) -> dict[str, float]:
    from django.db.models import Max, Min

    from jobs import services
    from jobs.models import Job

    bench.reset()
    n = bench.args.jobs

    def span() -> float:
        first_last = Job.objects.aggregate(first=Min("started_at"), last=Max("completed_at"))
        return (first_last["last"] - first_last["first"]).total_seconds()

    return _drain(bench, n, lambda: services.job_create(type="bench.noop"),
                  Workers("config", "default", pool, bench.env, bench.scratch, events=events),
                  lambda: Job.objects.filter(status="completed").count() >= n, 1200, "tracked jobs to drain", span)


def _drain(bench: Bench, n: int, send: Callable[[], object], workers: Workers, drained: Callable[[], bool],
           timeout: float, what: str, span: Callable[[], float]) -> dict[str, float]:
    """Send `n` messages, drain them with `workers`; `span()` is the seconds from the first
    start to the last, read after the workers stopped."""
    producer_cpu = time.process_time()
    started = time.perf_counter()
    for _ in range(n):
        send()
    enqueue_s = time.perf_counter() - started
    producer_cpu = time.process_time() - producer_cpu
    redis0, pg0 = bench.server_cpu()
    workers.start(idle=True)
    cpu0 = cpu_seconds(workers.pids)
    publishes0 = bench.publishes()
    workers.consume()
    try:
        wait_until(drained, timeout, what)
        cpu1 = cpu_seconds(workers.pids)
        publishes1 = bench.publishes()
    finally:
        workers.stop()
    redis1, pg1 = bench.server_cpu()
    drain_s = span()
    return {"enqueue_per_s": n / enqueue_s, "drain_per_s": n / drain_s,
            "cpu_producer_per_1000": 1000 * producer_cpu / n, "cpu_workers_per_1000": 1000 * (cpu1 - cpu0) / n,
            "cpu_redis_per_1000": 1000 * (redis1 - redis0) / n, "cpu_postgres_per_1000": 1000 * (pg1 - pg0) / n,
            "redis_publish_per_job": (publishes1 - publishes0) / n}


def tracked_bulk(bench: Bench) -> dict[str, float]:
    from jobs import services

    bench.reset()
    n = bench.args.jobs
    started = time.perf_counter()
    for offset in range(0, n, 5000):
        services.jobs_create_bulk(type="bench.noop", inputs=[{}] * min(5000, n - offset))
    return {"bulk_enqueue_per_s": n / (time.perf_counter() - started)}


def statements_per_job(bench: Bench) -> dict[str, float]:
    """SQL statements of one delivery on the worker's hot path: claim to result stored."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from config.celery import app as celery_app
    from jobs import services
    from jobs.testing import jobs_recorded

    bench.reset()
    with jobs_recorded():
        job = services.job_create(type="bench.noop").job
    with CaptureQueriesContext(connection) as create_queries, jobs_recorded():
        services.job_create(type="bench.noop")
    from jobs.storage.result_backend import DeliveryResult
    from jobs.worker.run import execute

    # what the worker's run_job does: the runner, then Celery's store of the task's result
    task_id = uuid.uuid4().hex
    request = SimpleNamespace(id=task_id, task="jobs.run_job", args=[str(job.pk), str(job.token)],
                              kwargs={"job_type": "bench.noop"}, hostname="bench", retries=0, delivery_info={},
                              properties={}, ignore_result=False)
    with CaptureQueriesContext(connection) as run_queries:
        outcome = execute(str(job.pk), str(job.token), worker="bench", job_type="bench.noop", heartbeat=False,
                          task_result=DeliveryResult(celery_app.backend, task_id, request))
        celery_app.backend.store_result(task_id, outcome, "SUCCESS", request=request)
    return {"sql_per_create": len(create_queries), "sql_per_run": len(run_queries)}
