"""The command line of `python -m bench`.

It is read before anything else, Django included: a mistyped option fails at once instead of
after the databases are prepared.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from bench import limited
from bench.report import RESULTS_DIR
from bench.workers import EVENTS, WORKER_SETTINGS

PARTS = ("drain", "bulk", "latency", "api", "console")


def parse_args(argv: list[str], description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=description)
    parser.add_argument("--embedded", action="store_true", help="SQLite and an embedded Redis instead of "
                        "DATABASE_URL / REDIS_URL.")
    parser.add_argument("--jobs", type=int, default=20_000, help="Jobs per drain run (default 20,000).")
    parser.add_argument("--repeat", type=int, default=3, help="Repetitions; medians are reported (default 3).")
    parser.add_argument("--latency-jobs", type=int, default=500, help="Jobs in the latency run (default 500).")
    parser.add_argument("--latency-rate", type=float, default=50.0, help="Jobs per second in the latency run.")
    parser.add_argument("--api-rows", default="100000,1000000", help="Row counts for the API figures.")
    parser.add_argument("--skip-api", action="store_true", help="Leave out the API, admin and console figures.")
    parser.add_argument("--console-viewing", type=float, default=30.0, metavar="S",
                        help="How long ten viewers load the console's overview every 2 s (PostgreSQL only; 30).")
    parser.add_argument("--only", choices=PARTS, action="append",
                        help="Run only these parts (repeatable); all of them by default.")
    parser.add_argument("--workers", default=None, help="Worker settings for the drain, comma-separated, from: "
                        "prefork (-c 2), solo (2 workers), prefork4 (-c 4), solo4 (4 workers); all by default.")
    parser.add_argument("--events", default=",".join(EVENTS), help="Task events in the drain's workers, "
                        "comma-separated: on (-E), off, or both (default on,off); the latency and limited runs keep "
                        "the settings' default.")
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
    args.events = list(dict.fromkeys(e.strip() for e in args.events.split(",") if e.strip()))
    wrong = [e for e in args.events if e not in EVENTS]
    if wrong or not args.events:
        parser.error(f"--events: {'unknown ' + ', '.join(wrong) if wrong else 'no setting given'}; choose from "
                     f"{', '.join(EVENTS)}")
    return args
