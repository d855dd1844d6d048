"""`python -m bench` (`make bench`): Conveyor side by side with bare Celery.

1. Prepare a database of the bench's own (`conveyor_bench` on the configured PostgreSQL, or
   SQLite in a temporary folder with --embedded) and a Redis database of its own.
2. For each repetition: bare Celery and tracked jobs, each enqueued one by one and drained by
   the same worker settings (prefork, 2 processes; and two solo workers), with Celery's task
   events on and off (`--events`), then a backlog of a
   concurrency-limited type drained by those settings (bench/limited.py); bulk enqueue;
   latency on idle workers; CPU of producer, workers, Redis and PostgreSQL.
3. The API and admin at 100,000 and 1,000,000 rows, and the console's pages at the largest (unless --skip-api).
4. One table on stdout, medians with min and max, and the same as JSON in bench/results/.
Figures are only comparable within one run: the machine is shared and noisy.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import api, cli, console, drain, latency, report
from bench.environment import Bench, prepare_environment
from bench.workers import WORKER_SETTINGS


def main(argv: list[str]) -> None:
    args = cli.parse_args(argv, description=__doc__.splitlines()[0])
    scratch = Path(tempfile.mkdtemp(prefix="conveyor-bench-"))
    env, embedded_redis = prepare_environment(args, scratch)
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    bench = Bench(args, env, scratch)
    parts = set(args.only or cli.PARTS)
    try:
        results = measure(bench, parts)
    finally:
        if embedded_redis is not None:
            embedded_redis.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    written = report.build(args, parts, results)
    out = report.write(written, args)
    print()
    report.print_table(written)
    print(f"written to {report.shown(out)}")


def measure(bench: Bench, parts: set[str]) -> dict[str, Any]:
    """Every part's figures: those of the repeated parts summarized, the API's as measured."""
    args = bench.args
    runs: dict[str, list[dict[str, float]]] = {}
    for rep in range(args.repeat if parts - {"api", "console"} else 0):
        print(f"repetition {rep + 1}/{args.repeat} ...", flush=True)
        for name, figures in repetition(bench, parts, rep):
            runs.setdefault(name, []).append(figures)
    if "drain" in parts:
        runs["statements"] = [drain.statements_per_job(bench)]
    results: dict[str, Any] = {name: report.summarize(values) for name, values in runs.items()}
    if "api" in parts and not args.skip_api:
        results["api"] = api.measure(args, bench)
    if "console" in parts and not args.skip_api:
        results["console"] = console.measure(args, bench)
    bench.reset()
    return results


def repetition(bench: Bench, parts: set[str], rep: int) -> Iterator[tuple[str, dict[str, float]]]:
    """(name in the results, figures) of each run of one repetition, in the table's order."""
    args = bench.args
    if "drain" in parts:
        for pool in (args.workers.split(",") if args.workers else WORKER_SETTINGS):
            yield from drain.runs(bench, pool, rep)
    if "bulk" in parts:
        yield "bulk", drain.tracked_bulk(bench)
    if "latency" in parts:
        yield "latency_bare", latency.bare_latency(bench)
        yield "latency_tracked", latency.tracked_latency(bench)


if __name__ == "__main__":
    main(sys.argv[1:])
