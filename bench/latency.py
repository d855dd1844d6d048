"""The latency part (`--only latency`): jobs sent one by one at `--latency-rate` to workers
that are already consuming, so that the figures are the wait of a job on idle workers, not
its place in a backlog.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench.environment import Bench
from bench.workers import Workers, wait_until


def bare_latency(bench: Bench) -> dict[str, float]:
    # bench.bare reads the broker's address on import, which the environment sets
    from bench import bare

    bench.reset()
    workers = Workers("bench.bare", "bench-bare", "prefork", bench.env, bench.scratch).start()
    try:
        paced(bench, lambda: bare.noop.apply_async(args=[time.time()]))
        wait_until(lambda: bench.redis.llen("bench:bare:starts") >= bench.args.latency_jobs, 120, "bare latency")
    finally:
        workers.stop()
    rows = (row.split() for row in bench.redis.lrange("bench:bare:starts", 0, -1))
    waits = [1000 * (float(b) - float(a)) for a, b in rows]
    return {"start_p50_ms": percentile(waits, 50), "start_p95_ms": percentile(waits, 95),
            "start_p99_ms": percentile(waits, 99)}


def tracked_latency(bench: Bench) -> dict[str, float]:
    from jobs import services
    from jobs.models import Job

    bench.reset()
    workers = Workers("config", "default", "prefork", bench.env, bench.scratch).start()
    try:
        paced(bench, lambda: services.job_create(type="bench.noop"))
        wait_until(lambda: Job.objects.filter(status="completed").count() >= bench.args.latency_jobs, 120,
                   "tracked latency")
    finally:
        workers.stop()
    rows = Job.objects.values_list("created_at", "started_at", "completed_at")
    # every row is completed (waited for above), so both times are set
    claim = [1000 * (s - c).total_seconds() for c, s, _ in rows if s]
    done = [1000 * (d - c).total_seconds() for c, _, d in rows if d]
    return {"claim_p50_ms": percentile(claim, 50), "claim_p95_ms": percentile(claim, 95),
            "claim_p99_ms": percentile(claim, 99), "done_p50_ms": percentile(done, 50),
            "done_p95_ms": percentile(done, 95), "done_p99_ms": percentile(done, 99)}


def paced(bench: Bench, send: Callable[[], Any]) -> None:
    interval = 1.0 / bench.args.latency_rate
    next_at = time.perf_counter()
    for _ in range(bench.args.latency_jobs):
        send()
        next_at += interval
        time.sleep(max(0.0, next_at - time.perf_counter()))


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * pct / 100
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)
