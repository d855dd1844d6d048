"""`python -m bench` (`make bench`): Conveyor side by side with bare Celery.

1. Prepare a database of the bench's own (`conveyor_bench` on the configured PostgreSQL, or
   SQLite in a temporary folder with --embedded) and a Redis database of its own.
2. For each repetition: bare Celery and tracked jobs, each enqueued one by one and drained by
   the same worker settings (prefork, 2 processes; and two solo workers), then a backlog of a
   concurrency-limited type drained by those settings (bench/limited.py); bulk enqueue;
   latency on idle workers; CPU of producer, workers, Redis and PostgreSQL.
3. The API and admin at 100,000 and 1,000,000 rows (unless --skip-api).
4. One table on stdout, medians with min and max, and the same as JSON in bench/results/.
Figures are only comparable within one run: the machine is shared and noisy.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psutil
import psycopg
import redis

from bench import limited

BASE_DIR = Path(__file__).resolve().parent.parent
RESULTS_DIR = BASE_DIR / "bench" / "results"


# --- set-up ----------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--embedded", action="store_true", help="SQLite and an embedded Redis instead of "
                        "DATABASE_URL / REDIS_URL.")
    parser.add_argument("--jobs", type=int, default=20_000, help="Jobs per drain run (default 20,000).")
    parser.add_argument("--repeat", type=int, default=3, help="Repetitions; medians are reported (default 3).")
    parser.add_argument("--latency-jobs", type=int, default=500, help="Jobs in the latency run (default 500).")
    parser.add_argument("--latency-rate", type=float, default=50.0, help="Jobs per second in the latency run.")
    parser.add_argument("--api-rows", default="100000,1000000", help="Row counts for the API figures.")
    parser.add_argument("--skip-api", action="store_true", help="Leave out the API and admin figures.")
    parser.add_argument("--only", choices=("drain", "bulk", "latency", "api"), action="append",
                        help="Run only these parts (repeatable); all of them by default.")
    parser.add_argument("--workers", default=None, help="Worker settings for the drain, comma-separated, from: "
                        "prefork (-c 2), solo (2 workers), prefork4 (-c 4), solo4 (4 workers); all by default.")
    parser.add_argument("--db-name", default="conveyor_bench", help="The bench's own PostgreSQL database "
                        "(default conveyor_bench); it is emptied between runs.")
    parser.add_argument("--redis-db", type=int, default=14, help="The bench's own Redis database number "
                        "(default 14); it is flushed between runs.")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="Where the JSON report goes "
                        "(default bench/results/).")
    limited.add_arguments(parser)
    args = parser.parse_args(argv)
    unknown = set(args.workers.split(",")) - WORKER_SETTINGS.keys() if args.workers else set()
    if unknown:
        parser.error(f"--workers: unknown {', '.join(sorted(unknown))}; choose from {', '.join(WORKER_SETTINGS)}")
    return args


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def with_redis_db(url: str, db: int) -> str:
    if url.startswith(("redis+socket://", "unix://")):
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


def prepare_environment(args: argparse.Namespace, scratch: Path) -> tuple[dict[str, str], Any]:
    """The environment of the bench process and its workers; the embedded Redis, if any."""
    env = dict(os.environ)
    embedded_redis = None
    if args.embedded:
        from config.embedded_redis import EmbeddedRedis

        embedded_redis = EmbeddedRedis(socket_path=scratch / "redis.sock", workdir=scratch).start()
        env["REDIS_URL"] = embedded_redis.url
        env["DATABASE_URL"] = f"sqlite:///{scratch / 'bench.sqlite3'}"
    else:
        if not env.get("DATABASE_URL") or not env.get("REDIS_URL"):
            sys.exit("make bench needs DATABASE_URL and REDIS_URL (or --embedded)")
        env["DATABASE_URL"] = with_database(env["DATABASE_URL"], args.db_name)
        env["REDIS_URL"] = with_redis_db(env["REDIS_URL"], args.redis_db)
        create_postgres_database(os.environ["DATABASE_URL"], args.db_name)
    env.update({
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "JOBS_HANDLER_MODULES": "handlers.demo,handlers.dossiers,handlers.maintenance,bench.handlers",
        "LOG_LEVEL": "WARNING",
        "BENCH_BROKER_URL": env["REDIS_URL"],
        "PYTHONPATH": str(BASE_DIR),
        "DEBUG": "0",
        **limited.environment(args),
    })
    return env, embedded_redis


def create_postgres_database(url: str, name: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


# --- processes and measurements -----------------------------------------------------------------


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            for p in [proc, *proc.children(recursive=True)]:
                t = p.cpu_times()
                total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def server_pids(kind: str, redis_url: str) -> list[int]:
    """The processes of the Redis server or of PostgreSQL on this machine."""
    if kind == "redis":
        port = urlsplit(redis_url).port if redis_url.startswith("redis://") else None
        pids = []
        for p in psutil.process_iter(["name", "cmdline"]):
            cmd = " ".join(p.info["cmdline"] or [])
            ours = port is None or f":{port}" in cmd or (redis_url.startswith("redis+socket") and "unixsocket" in cmd)
            if "redis-server" in (p.info["name"] or "") + cmd and ours:
                pids.append(p.pid)
        return pids
    return [p.pid for p in psutil.process_iter(["name"]) if (p.info["name"] or "").startswith("postgres")]


def postgres_cpu_seconds() -> float:
    """CPU of every PostgreSQL process, those that already exited included (a backend lives
    as long as its connection; the postmaster accumulates its reaped children's time)."""
    total = 0.0
    for p in psutil.process_iter(["name", "ppid"]):
        if not (p.info["name"] or "").startswith("postgres"):
            continue
        try:
            t = p.cpu_times()
            total += t.user + t.system
            if psutil.Process(p.info["ppid"]).name() != "postgres":  # the postmaster
                total += t.children_user + t.children_system
        except psutil.Error:
            pass
    return total


# name: (label, worker processes, pool processes each, Celery pool). The first is the
# comparison the targets name (prefork, 2 processes); the others look for the best settings.
WORKER_SETTINGS: dict[str, tuple[str, int, int, str]] = {
    "prefork": ("prefork -c 2", 1, 2, "prefork"),
    "solo": ("2 solo workers", 2, 1, "solo"),
    "prefork4": ("prefork -c 4", 1, 4, "prefork"),
    "solo4": ("4 solo workers", 4, 1, "solo"),
}


@dataclass
class Workers:
    """Worker processes of one configuration, started and stopped together."""

    app: str
    queue: str
    pool: str
    env: dict[str, str]
    log_dir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    def start(self, idle: bool = False) -> Workers:
        """Start the processes; `idle` ones consume nothing until consume() (so that their
        start-up CPU is not counted)."""
        count, concurrency, pool = WORKER_SETTINGS[self.pool][1:]
        for n in range(count):
            name = f"bench{n}-{uuid.uuid4().hex[:4]}"
            self.names.append(name)
            log = (self.log_dir / f"{name}.log").open("wb")
            args = [sys.executable, "-m", "celery", "-A", self.app, "worker", "-P", pool, "-c", str(concurrency),
                    "-Q", "bench-idle" if idle else self.queue, "-n", f"{name}@%h",
                    "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO"]
            self.processes.append(subprocess.Popen(args, cwd=BASE_DIR, env=self.env, stdout=log,
                                                   stderr=subprocess.STDOUT, start_new_session=True))
            deadline = time.monotonic() + 60
            while b" ready." not in (self.log_dir / f"{name}.log").read_bytes():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"worker {name} did not start; see {self.log_dir}")
                time.sleep(0.1)
        return self

    def consume(self) -> None:
        """Start consuming the queue (or the comma-separated queues): workers start idle so that
        their start-up is not measured."""
        from config.celery import app as control_app

        host = socket.gethostname()
        control_app.conf.broker_url = self.env["REDIS_URL"]
        for queue in self.queue.split(","):
            replies = control_app.control.add_consumer(queue, destination=[f"{n}@{host}" for n in self.names],
                                                       reply=True, timeout=5)
            if len(replies) != len(self.names):
                raise RuntimeError(f"only {len(replies)} of {len(self.names)} workers took {queue}: {replies}")
        # consuming two queues would make each BRPOP wait on the idle one too
        control_app.control.cancel_consumer("bench-idle", destination=[f"{n}@{host}" for n in self.names],
                                            reply=True, timeout=5)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def stop(self) -> None:
        for p in self.processes:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in self.processes:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.processes.clear()


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.2)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * pct / 100
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


# --- the runs --------------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, env: dict[str, str], scratch: Path) -> None:
        self.args = args
        self.env = env
        self.scratch = scratch
        from jobs.limits import redis_client_url

        self.redis = redis.Redis.from_url(redis_client_url(env["REDIS_URL"]))
        self.redis_pids = server_pids("redis", env["REDIS_URL"])

    def reset(self) -> None:
        from django.db import connection
        from django_celery_results.models import TaskResult

        from jobs.models import Job, JobAttempt

        self.redis.flushdb()
        if connection.vendor == "postgresql":
            # TRUNCATE, not DELETE: a million deleted rows (the API part's) would leave their
            # dead entries in every index and autovacuum's work in the next run's figures
            tables = ", ".join(m._meta.db_table for m in (JobAttempt, Job, TaskResult))
            with connection.cursor() as cursor:
                cursor.execute(f"TRUNCATE {tables} CASCADE")
            return
        Job.objects.all().delete()
        TaskResult.objects.all().delete()

    def server_cpu(self) -> tuple[float, float]:
        return cpu_seconds(self.redis_pids), 0.0 if self.args.embedded else postgres_cpu_seconds()

    # bare Celery

    def bare_drain(self, pool: str) -> dict[str, float]:
        from bench import bare

        self.reset()
        n = self.args.jobs
        producer_cpu = time.process_time()
        started = time.perf_counter()
        for _ in range(n):
            bare.noop.apply_async(args=[time.time()])
        enqueue_s = time.perf_counter() - started
        producer_cpu = time.process_time() - producer_cpu
        redis0, pg0 = self.server_cpu()
        workers = Workers("bench.bare", "bench-bare", pool, self.env, self.scratch).start(idle=True)
        cpu0 = cpu_seconds(workers.pids)
        workers.consume()
        try:
            wait_until(lambda: self.redis.llen("bench:bare:starts") >= n, 600, "bare Celery to drain")
            cpu1 = cpu_seconds(workers.pids)
        finally:
            workers.stop()
        redis1, pg1 = self.server_cpu()
        starts = [float(row.split()[1]) for row in self.redis.lrange("bench:bare:starts", 0, -1)]
        drain_s = max(starts) - min(starts)
        return {"enqueue_per_s": n / enqueue_s, "drain_per_s": n / drain_s,
                "cpu_producer_per_1000": 1000 * producer_cpu / n, "cpu_workers_per_1000": 1000 * (cpu1 - cpu0) / n,
                "cpu_redis_per_1000": 1000 * (redis1 - redis0) / n, "cpu_postgres_per_1000": 1000 * (pg1 - pg0) / n}

    def bare_latency(self) -> dict[str, float]:
        from bench import bare

        self.reset()
        workers = Workers("bench.bare", "bench-bare", "prefork", self.env, self.scratch).start()
        try:
            self.paced(lambda: bare.noop.apply_async(args=[time.time()]))
            wait_until(lambda: self.redis.llen("bench:bare:starts") >= self.args.latency_jobs, 120, "bare latency")
        finally:
            workers.stop()
        rows = (row.split() for row in self.redis.lrange("bench:bare:starts", 0, -1))
        waits = [1000 * (float(b) - float(a)) for a, b in rows]
        return {"start_p50_ms": percentile(waits, 50), "start_p95_ms": percentile(waits, 95),
                "start_p99_ms": percentile(waits, 99)}

    def paced(self, send: Callable[[], Any]) -> None:
        interval = 1.0 / self.args.latency_rate
        next_at = time.perf_counter()
        for _ in range(self.args.latency_jobs):
            send()
            next_at += interval
            time.sleep(max(0.0, next_at - time.perf_counter()))

    # tracked jobs

    def tracked_drain(self, pool: str) -> dict[str, float]:
        from django.db.models import Max, Min

        from jobs import services
        from jobs.models import Job

        self.reset()
        n = self.args.jobs
        producer_cpu = time.process_time()
        started = time.perf_counter()
        for _ in range(n):
            services.job_create(type="bench.noop")
        enqueue_s = time.perf_counter() - started
        producer_cpu = time.process_time() - producer_cpu
        redis0, pg0 = self.server_cpu()
        workers = Workers("config", "default", pool, self.env, self.scratch).start(idle=True)
        cpu0 = cpu_seconds(workers.pids)
        workers.consume()
        try:
            wait_until(lambda: Job.objects.filter(status="completed").count() >= n, 1200, "tracked jobs to drain")
            cpu1 = cpu_seconds(workers.pids)
        finally:
            workers.stop()
        redis1, pg1 = self.server_cpu()
        span = Job.objects.aggregate(first=Min("started_at"), last=Max("completed_at"))
        drain_s = (span["last"] - span["first"]).total_seconds()
        return {"enqueue_per_s": n / enqueue_s, "drain_per_s": n / drain_s,
                "cpu_producer_per_1000": 1000 * producer_cpu / n, "cpu_workers_per_1000": 1000 * (cpu1 - cpu0) / n,
                "cpu_redis_per_1000": 1000 * (redis1 - redis0) / n, "cpu_postgres_per_1000": 1000 * (pg1 - pg0) / n}

    def tracked_bulk(self) -> dict[str, float]:
        from jobs import services

        self.reset()
        n = self.args.jobs
        started = time.perf_counter()
        for offset in range(0, n, 5000):
            services.jobs_create_bulk(type="bench.noop", inputs=[{}] * min(5000, n - offset))
        return {"bulk_enqueue_per_s": n / (time.perf_counter() - started)}

    def tracked_latency(self) -> dict[str, float]:
        from jobs import services
        from jobs.models import Job

        self.reset()
        workers = Workers("config", "default", "prefork", self.env, self.scratch).start()
        try:
            self.paced(lambda: services.job_create(type="bench.noop"))
            wait_until(lambda: Job.objects.filter(status="completed").count() >= self.args.latency_jobs, 120,
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

    def statements_per_job(self) -> dict[str, float]:
        """SQL statements of one delivery on the worker's hot path: claim to result stored."""
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from config.celery import app as celery_app
        from jobs import services
        from jobs.testing import jobs_recorded

        self.reset()
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


# --- summary -------------------------------------------------------------------------------------


def summarize(runs: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    keys = runs[0].keys()
    return {k: {"median": statistics.median(r[k] for r in runs), "min": min(r[k] for r in runs),
                "max": max(r[k] for r in runs)} for k in keys}


def fmt(stat: dict[str, float] | None, unit: str = "") -> str:
    if not stat:
        return "-"
    return f"{stat['median']:,.1f}{unit} [{stat['min']:,.1f}-{stat['max']:,.1f}]"


def print_table(report: dict[str, Any]) -> None:
    r = report["results"]
    rows: list[tuple[str, str, str, str]] = []

    def add(label: str, conveyor: dict[str, float] | None, bare: dict[str, float] | None, unit: str = "") -> None:
        # a ratio to (almost) nothing says nothing: bare Celery uses no PostgreSQL at all
        ratio = f"{conveyor['median'] / bare['median']:.2f}x" if conveyor and bare and bare["median"] >= 0.05 else ""
        rows.append((label, fmt(conveyor, unit), fmt(bare, unit), ratio))

    for pool, (label, *_) in WORKER_SETTINGS.items():
        c, b = r.get(f"tracked_{pool}"), r.get(f"bare_{pool}")
        if not c:
            continue
        add(f"enqueue one by one ({label}), jobs/s", c["enqueue_per_s"], b["enqueue_per_s"] if b else None)
        add(f"drain ({label}), jobs/s", c["drain_per_s"], b["drain_per_s"] if b else None)
        for part in ("producer", "workers", "redis", "postgres"):
            key = f"cpu_{part}_per_1000"
            add(f"CPU s per 1000 jobs, {part} ({label})", c[key], b[key] if b else None)
    rows += limited.table_rows(r, {pool: label for pool, (label, *_) in WORKER_SETTINGS.items()}, fmt)
    if "bulk" in r:
        add("bulk enqueue, jobs/s", r["bulk"]["bulk_enqueue_per_s"], None)
    lat_c, lat_b = r.get("latency_tracked"), r.get("latency_bare")
    if lat_c:
        for p in ("50", "95", "99"):
            add(f"create -> claim p{p}, ms", lat_c[f"claim_p{p}_ms"], lat_b[f"start_p{p}_ms"] if lat_b else None)
        for p in ("50", "95", "99"):
            add(f"create -> completed p{p}, ms", lat_c[f"done_p{p}_ms"], None)
    if "statements" in r:
        add("SQL statements per create", r["statements"]["sql_per_create"], None)
        add("SQL statements per run (claim to result stored)", r["statements"]["sql_per_run"], None)
    for name, stats in r.get("api", {}).items():
        add(name, stats, None)
    widths = [max(len(row[i]) for row in rows + [("metric", "Conveyor", "bare Celery", "ratio")]) for i in range(4)]
    header = ("metric", "Conveyor", "bare Celery", "ratio")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)))
    print(f"\n{report['machine']}; medians of {report['repeat']} runs [min-max]; {report['jobs']} jobs per drain run")
    if limited.footer(report):
        print(limited.footer(report))


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="conveyor-bench-"))
    env, embedded_redis = prepare_environment(args, scratch)
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    bench = Bench(args, env, scratch)
    runs: dict[str, list[dict[str, float]]] = {}
    parts = set(args.only or ("drain", "bulk", "latency", "api"))
    try:
        for rep in range(args.repeat if parts - {"api"} else 0):
            print(f"repetition {rep + 1}/{args.repeat} ...", flush=True)
            if "drain" in parts:
                for pool in (args.workers.split(",") if args.workers else WORKER_SETTINGS):
                    runs.setdefault(f"bare_{pool}", []).append(bench.bare_drain(pool))
                    runs.setdefault(f"tracked_{pool}", []).append(bench.tracked_drain(pool))
                    make_workers = partial(Workers, "config", pool=pool, env=env, log_dir=scratch)
                    for name, figures in limited.runs(bench, pool, make_workers, cpu_seconds).items():
                        runs.setdefault(name, []).append(figures)
            if "bulk" in parts:
                runs.setdefault("bulk", []).append(bench.tracked_bulk())
            if "latency" in parts:
                runs.setdefault("latency_bare", []).append(bench.bare_latency())
                runs.setdefault("latency_tracked", []).append(bench.tracked_latency())
        if "drain" in parts:
            runs["statements"] = [bench.statements_per_job()]
        results: dict[str, Any] = {name: summarize(values) for name, values in runs.items()}
        if "api" in parts and not args.skip_api:
            from bench import api

            results["api"] = api.measure(args, bench)
        bench.reset()
    finally:
        if embedded_redis is not None:
            embedded_redis.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {psutil.cpu_count()} CPUs, "
                   f"{round(psutil.virtual_memory().total / 2**30)} GiB, Python {platform.python_version()}, "
                   f"{'SQLite + embedded Redis' if args.embedded else 'PostgreSQL + Redis'}",
        "repeat": args.repeat,
        "jobs": args.jobs,
        **({"limited": limited.describe(args)} if "drain" in parts else {}),
        "results": results,
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / f"bench-{datetime.now():%Y%m%d-%H%M%S}{'-embedded' if args.embedded else ''}.json"
    out.write_text(json.dumps(report, indent=2))
    print()
    print_table(report)
    print(f"written to {out.relative_to(BASE_DIR) if out.is_relative_to(BASE_DIR) else out}")


if __name__ == "__main__":
    main(sys.argv[1:])
