"""`python -m bench` (what `make bench` runs) end to end, at a tiny size: every part runs, real
workers drain both queues, and the report holds every figure the README's table explains.

No figure is compared with a target here: timings belong to the bench itself. What is checked
is that the bench still works and still measures what it says (the statement counts of the
hot path on PostgreSQL, and the limited backlog's handler runs per job, are exact, so they are
asserted; so is the drain's task events setting, by the PUBLISHes its workers sent).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from django.conf import settings

from config.embedded_redis import EmbeddedRedis, free_port
from tests import processes

pytestmark = [pytest.mark.slow, pytest.mark.workers]

REPO = Path(__file__).resolve().parents[2]
STRIPPED_PREFIXES = ("DJANGO_", "CELERY_", "JOBS_", "CONVEYOR_", "BENCH_")
JOBS = 40
API_ROWS = 600
LIMITED_JOBS = 20


def bench_environment(**extra: str) -> dict[str, str]:
    """The environment of a shell that runs `make bench`: none of the suite's settings."""
    env = {name: value for name, value in os.environ.items()
           if name not in {"DATABASE_URL", "REDIS_URL", "PYTHONPATH"} and not name.startswith(STRIPPED_PREFIXES)}
    env.update(extra, PYTHONUNBUFFERED="1")
    return env


def run_bench(args: list[str], env: dict[str, str], timeout: float = 280) -> subprocess.CompletedProcess[str]:
    """Run the bench; whatever happens, kill every process it started (its workers run in
    sessions of their own, so they are remembered while the bench runs)."""
    process = subprocess.Popen([sys.executable, "-m", "bench", *args], cwd=REPO, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    seen: dict[int, psutil.Process] = {}
    deadline = time.monotonic() + timeout
    try:
        while process.poll() is None and time.monotonic() < deadline:
            try:
                for child in psutil.Process(process.pid).children(recursive=True):
                    seen.setdefault(child.pid, child)
            except psutil.NoSuchProcess:
                pass
            time.sleep(0.3)
    finally:
        if process.poll() is None:
            process.kill()
        for child in seen.values():
            try:
                if child.is_running():
                    child.kill()
            except psutil.NoSuchProcess:
                pass
        output = process.communicate()[0]
    if process.returncode != 0:
        pytest.fail(f"the bench exited with {process.returncode}:\n{output[-6000:]}")
    return subprocess.CompletedProcess(process.args, process.returncode, output)


def bench_args(results: Path) -> list[str]:
    return ["--jobs", str(JOBS), "--repeat", "1", "--latency-jobs", "10", "--latency-rate", "100",
            "--api-rows", str(API_ROWS), "--workers", "solo", "--results-dir", str(results),
            "--limited-jobs", str(LIMITED_JOBS), "--limited-ms", "10", "--console-viewing", "6"]


def the_report(results: Path) -> dict[str, Any]:
    written = list(results.glob("bench-*.json"))
    assert len(written) == 1, f"expected one report in {results}, found {written}"
    return json.loads(written[0].read_text())


def check_report(report: dict[str, Any], output: str) -> None:
    r = report["results"]
    assert report["jobs"] == JOBS and report["repeat"] == 1 and report["events"] == ["on", "off"]
    for side in ("tracked_solo", "bare_solo"):
        for events in ("on", "off"):
            figures = r[f"{side}_events_{events}"]
            for key in ("enqueue_per_s", "drain_per_s", "cpu_producer_per_1000", "cpu_workers_per_1000"):
                assert figures[key]["median"] > 0, f"{side} events {events} {key}: {figures[key]}"
        # task-received, -started, -succeeded go out in batches, a PUBLISH or two per job; with
        # events off only the control commands that make the workers consume publish (two)
        assert r[f"{side}_events_on"]["redis_publish_per_job"]["median"] >= 0.5, side
        assert r[f"{side}_events_off"]["redis_publish_per_job"]["median"] < 0.25, side
    # the limited backlog (part of the drain): a limit of 1, and 1 per key on 2 keys
    assert report["limited"] == {"jobs": LIMITED_JOBS, "ms": 10.0, "concurrency": 1, "keys": 2, "ideal_per_s": 100.0,
                                 "ideal_keyed_per_s": 200.0}
    for side in ("limited_solo", "limited_keyed_solo"):
        figures = {key: stat["median"] for key, stat in r[side].items()}
        for key in ("drain_per_s", "ratio_to_ideal", "cpu_workers_per_1000"):
            assert figures[key] > 0, f"{side} {key}: {figures[key]}"
        # counts, not timings: each job's handler ran once, and every delivery counted
        assert figures["handler_runs_per_job"] == 1, f"{side}: {figures}"
        assert figures["deliveries_per_job"] >= 1, f"{side}: {figures}"
        assert figures["empty_deliveries_per_job"] == pytest.approx(figures["deliveries_per_job"] - 1), side
        assert figures["other_tasks_per_job"] >= 0
    assert r["bulk"]["bulk_enqueue_per_s"]["median"] > 0
    for key in ("claim_p50_ms", "claim_p99_ms", "done_p50_ms", "done_p99_ms"):
        assert r["latency_tracked"][key]["median"] > 0
    assert r["latency_bare"]["start_p50_ms"]["median"] > 0
    api = r["api"]
    for label in ("GET /api/jobs (default)", "GET /api/jobs?statuses=failed", "GET /api/jobs?projectId=",
                  "GET /api/v1/orgs/{id}/jobs/stats", "admin job list page", "GET /api/jobs (default), member"):
        assert api[f"{label} p95 at {API_ROWS:,} rows, ms"]["median"] > 0, label
    console = r["console"]
    for label in ("console overview", "console failure groups (all)", "job list q=input.customer_id=",
                  "job page (queued, why it waits)"):
        assert console[f"{label} p95 at {API_ROWS:,} rows, ms"]["median"] > 0, label
    # the table on stdout: each part, and a ratio computed within the run
    for line in ("drain (2 solo workers, events on), jobs/s", "drain (2 solo workers, events off), jobs/s",
                 "enqueue one by one (2 solo workers, events on), jobs/s",
                 "Redis PUBLISH per job (2 solo workers, events off)",
                 "drain rate, events on / off (2 solo workers)", "worker CPU per job, events on / off (2 solo workers)",
                 "bulk enqueue, jobs/s", "create -> claim p50, ms", "SQL statements per run",
                 f"admin job list page p95 at {API_ROWS:,} rows, ms",
                 "limited backlog (2 solo workers), jobs/s",
                 "limited backlog (2 solo workers), share of the ideal 100/s",
                 "limited backlog (2 solo workers), run_job deliveries per job",
                 "limited backlog per key (2 solo workers), deliveries that ran nothing per job",
                 f"limited backlog: {LIMITED_JOBS} jobs of 10 ms, limit 1"):
        assert line in output, f"{line!r} is not in the table:\n{output}"
    drain = next(row for row in output.splitlines() if row.startswith("drain (2 solo workers, events on)"))
    assert drain.rstrip().endswith("x"), f"no ratio in {drain!r}"
    cost = next(row for row in output.splitlines() if row.startswith("drain rate, events on / off"))
    assert len(re.findall(r"\d\.\d\dx", cost)) == 2, f"no on/off ratio for both sides in {cost!r}"


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    return tmp_path / "results"


def test_the_bench_runs_every_part_on_the_embedded_defaults(results_dir: Path) -> None:
    done = run_bench(["--embedded", *bench_args(results_dir)], bench_environment())
    report = the_report(results_dir)
    assert "SQLite + embedded Redis" in report["machine"]
    check_report(report, done.stdout)


@pytest.fixture
def bench_database() -> Iterator[tuple[str, str]]:
    """(the suite's DATABASE_URL, a database name of this test's own beside it) on PostgreSQL."""
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        pytest.skip("the bench's PostgreSQL mode needs DATABASE_URL on PostgreSQL; runs in .ci/run's PostgreSQL pass")
    import psycopg

    url, name = processes.test_database_url(), f"{settings.DATABASES['default']['NAME']}_bench"

    def drop() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    drop()
    yield url, name
    drop()


def test_the_bench_runs_every_part_on_postgresql(results_dir: Path, bench_database: tuple[str, str],
                                                 tmp_path: Path) -> None:
    url, name = bench_database
    # a Redis of the test's own: the bench flushes its database between runs
    redis = EmbeddedRedis(port=free_port(), workdir=tmp_path / "redis").start()
    try:
        # the bench creates its database `name` beside the suite's and uses only that one
        env = bench_environment(DATABASE_URL=url, REDIS_URL=redis.url)
        done = run_bench([*bench_args(results_dir), "--db-name", name, "--redis-db", "3"], env)
    finally:
        redis.stop()
    report = the_report(results_dir)
    check_report(report, done.stdout)
    r = report["results"]
    # the hot path's round trips: one INSERT per create; the claim (with the attempt's row)
    # and the completion (with the attempt's and Celery's result rows) per run
    assert r["statements"]["sql_per_create"]["median"] == 1
    assert r["statements"]["sql_per_run"]["median"] == 2
    assert r["tracked_solo_events_on"]["cpu_postgres_per_1000"]["median"] > 0
