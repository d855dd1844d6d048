"""The limited backlog, part of the drain (`--only drain`): jobs of a concurrency-limited type,
drained by the same worker settings as the unlimited drain.

1. A backlog of `--limited-jobs` jobs of `bench.limited` (at most `--limited-concurrency` at a
   time, each sleeping `--limited-ms`) is created in bulk while no worker consumes; then the
   workers take `default` and the system queue (as `make worker` does). The ideal rate is the
   limit's: concurrency / duration. The limit is below every setting's process count by
   default (1 against 2 processes), so that the limit and not the workers is the bottleneck.
2. The same with a limit of one per key across `--limited-keys` keys (`bench.limited_keyed`,
   the backlog's keys shuffled, as many jobs each): ideal keys / duration.
3. Reported per run: jobs/s from the first start to the last completion, its share of the
   ideal, and from the Celery side (`bench.handlers`' task_prerun receiver): `jobs.run_job`
   deliveries per job, those that ran no handler per job, and the other tasks the workers ran
   per job; the workers', Redis's and PostgreSQL's CPU per 1,000 jobs.
Only `jobs_create_bulk`, the handler registry and Celery's signals are used, so the same bench
measures any implementation of the limits.
"""
from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from typing import Any

# (no Django here: the bench reads its options before Django is set up)
LIMITED = "bench.limited"
LIMITED_KEYED = "bench.limited_keyed"
DELIVERIES_KEY = "bench:limited:deliveries"  # a hash in the bench's Redis: task name -> executions
RUNS_KEY = "bench:limited:runs"  # runs of the limited handlers
RUN_JOB = "jobs.run_job"
# key in the results -> (job type, label in the table)
VARIANTS = {"limited": (LIMITED, "limited backlog"), "limited_keyed": (LIMITED_KEYED, "limited backlog per key")}


def _at_least(low: float, kind: type = int) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"{text} is below {low:g}")
        return value
    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limited-jobs", type=_at_least(0), default=1500, help="Jobs in each limited backlog run "
                        "(default 1,500: 30 s at the ideal rate of the defaults); 0 leaves the limited backlog out.")
    parser.add_argument("--limited-ms", type=_at_least(0.1, float), default=20.0,
                        help="How long each limited job sleeps, ms (default 20).")
    parser.add_argument("--limited-concurrency", type=_at_least(1), default=1,
                        help="The limited type's concurrency limit (default 1: below every worker setting's process "
                        "count).")
    parser.add_argument("--limited-keys", type=_at_least(0), default=2, help="Keys of the per-key run, a limit of 1 "
                        "each (default 2); 0 leaves it out.")


def environment(args: argparse.Namespace) -> dict[str, str]:
    """What the bench process and its workers need to agree on (bench.handlers reads it)."""
    return {"BENCH_LIMITED_CONCURRENCY": str(args.limited_concurrency)}


def describe(args: argparse.Namespace) -> dict[str, Any]:
    """The limited backlog's settings, for the JSON report."""
    return {"jobs": args.limited_jobs, "ms": args.limited_ms, "concurrency": args.limited_concurrency,
            "keys": args.limited_keys, "ideal_per_s": _ideal(args, "limited"),
            "ideal_keyed_per_s": _ideal(args, "limited_keyed") if args.limited_keys else None}


def _ideal(args: argparse.Namespace, variant: str) -> float:
    slots = args.limited_concurrency if variant == "limited" else args.limited_keys
    return slots * 1000 / args.limited_ms


def _inputs(args: argparse.Namespace, variant: str) -> list[dict[str, Any]]:
    n, ms = args.limited_jobs, args.limited_ms
    if variant == "limited":
        return [{"ms": ms}] * n
    keys = [f"k{i % args.limited_keys}" for i in range(n)]
    random.Random(n).shuffle(keys)  # the same order in every run, before and after a change
    return [{"ms": ms, "key": key} for key in keys]


def runs(bench: Any, pool: str, make_workers: Callable[[str], Any],
         cpu_seconds: Callable[[list[int]], float]) -> dict[str, dict[str, float]]:
    """One run of each variant with the worker setting `pool`: {"limited_<pool>": figures, ...}.

    `make_workers(queues)` gives the bench's Workers (not started) for the setting."""
    args = bench.args
    if args.limited_jobs <= 0:
        return {}
    variants = ["limited", *(["limited_keyed"] if args.limited_keys > 0 else [])]
    return {f"{variant}_{pool}": _drain(bench, variant, make_workers, cpu_seconds) for variant in variants}


def _drain(bench: Any, variant: str, make_workers: Callable[[str], Any],
           cpu_seconds: Callable[[list[int]], float]) -> dict[str, float]:
    from django.conf import settings
    from django.db.models import Max, Min

    from jobs import services
    from jobs.models import Job

    args = bench.args
    job_type = VARIANTS[variant][0]
    ideal = _ideal(args, variant)
    bench.reset()
    inputs = _inputs(args, variant)
    n = len(inputs)
    for start in range(0, n, 5000):
        services.jobs_create_bulk(type=job_type, inputs=inputs[start:start + 5000])
    redis0, pg0 = bench.server_cpu()
    workers = make_workers(f"{settings.JOBS_DEFAULT_QUEUE},{settings.JOBS_SYSTEM_QUEUE}")
    workers.env = {**workers.env, "BENCH_COUNT_DELIVERIES": "1"}
    workers.start(idle=True)
    cpu0 = cpu_seconds(workers.pids)
    workers.consume()
    try:
        # generous: spinning or a slow hand-over may well take a few times the ideal
        deadline = time.monotonic() + max(120.0, 10 * n / ideal)
        done = 0
        while done < n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{job_type}: {done} of {n} jobs completed in time; see the worker logs in "
                                   f"{workers.log_dir}")
            time.sleep(0.2)
            done = Job.objects.filter(type=job_type, status="completed").count()
        cpu1 = cpu_seconds(workers.pids)
    finally:
        workers.stop()  # before reading the counters: a late delivery still counts
    redis1, pg1 = bench.server_cpu()
    deliveries = {name.decode(): int(count) for name, count in bench.redis.hgetall(DELIVERIES_KEY).items()}
    run_job = deliveries.pop(RUN_JOB, 0)
    handler_runs = int(bench.redis.get(RUNS_KEY) or 0)
    span = Job.objects.filter(type=job_type).aggregate(first=Min("started_at"), last=Max("completed_at"))
    rate = n / (span["last"] - span["first"]).total_seconds()
    return {"drain_per_s": rate, "ideal_per_s": ideal, "ratio_to_ideal": rate / ideal,
            "deliveries_per_job": run_job / n, "empty_deliveries_per_job": (run_job - handler_runs) / n,
            "handler_runs_per_job": handler_runs / n, "other_tasks_per_job": sum(deliveries.values()) / n,
            "cpu_workers_per_1000": 1000 * (cpu1 - cpu0) / n, "cpu_redis_per_1000": 1000 * (redis1 - redis0) / n,
            "cpu_postgres_per_1000": 1000 * (pg1 - pg0) / n}


# --- the table --------------------------------------------------------------------------------


def _fmt2(stat: dict[str, float]) -> str:
    return f"{stat['median']:,.2f} [{stat['min']:,.2f}-{stat['max']:,.2f}]"


def table_rows(results: dict[str, Any], settings_labels: dict[str, str],
               fmt: Callable[[dict[str, float]], str]) -> list[tuple[str, str, str, str]]:
    """The table's rows for the limited runs in `results`, grouped by variant, then by setting."""
    rows: list[tuple[str, str, str, str]] = []
    for variant, (_, title) in VARIANTS.items():
        for pool, label in settings_labels.items():
            r = results.get(f"{variant}_{pool}")
            if not r:
                continue
            prefix = f"{title} ({label})"
            rows += [
                (f"{prefix}, jobs/s", fmt(r["drain_per_s"]), "-", ""),
                (f"{prefix}, share of the ideal {r['ideal_per_s']['median']:,.0f}/s", _fmt2(r["ratio_to_ideal"]),
                 "-", ""),
                (f"{prefix}, run_job deliveries per job", _fmt2(r["deliveries_per_job"]), "-", ""),
                (f"{prefix}, deliveries that ran nothing per job", _fmt2(r["empty_deliveries_per_job"]), "-", ""),
            ]
            if r["other_tasks_per_job"]["max"] > 0:
                rows.append((f"{prefix}, other tasks run per job", _fmt2(r["other_tasks_per_job"]), "-", ""))
            rows.append((f"{prefix}, CPU s per 1000 jobs, workers", fmt(r["cpu_workers_per_1000"]), "-", ""))
    return rows


def footer(report: dict[str, Any]) -> str | None:
    d = report.get("limited")
    if not d or not d["jobs"]:
        return None
    text = (f"limited backlog: {d['jobs']} jobs of {d['ms']:g} ms, limit {d['concurrency']} "
            f"(ideal {d['ideal_per_s']:,.0f}/s)")
    if d["keys"]:
        text += f"; per key: limit 1 on each of {d['keys']} keys (ideal {d['ideal_keyed_per_s']:,.0f}/s)"
    return text
