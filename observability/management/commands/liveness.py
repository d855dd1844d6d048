"""`manage.py liveness worker|beat|queues`: is a worker, beat, or a queue's consumer alive?

For probes and for operators. Exit status 0: alive; 1: not alive (the reason on stderr);
2: a wrong option.

    liveness worker [--name NAME]    this host's worker NAME, from its liveness file: no network,
                                     no broadcast (a container's or a unit's liveness probe)
    liveness beat [--redis]          beat, from its liveness file on this host (or from its
                                     record in Redis, from any host)
    liveness queues [QUEUE ...]      the live workers, from their records in Redis; fails if a
                                     named queue has no live consumer (or, naming none, if no
                                     worker is live)

A worker or beat renews its liveness every JOBS_LIVENESS_INTERVAL seconds; older than
`--max-age` (JOBS_LIVENESS_MAX_AGE by default) is dead. See docs/operations.md#health-checks.
"""
from __future__ import annotations

import json
import time
from typing import Any

from celery.utils.nodenames import default_nodename, host_format
from django.core.management.base import BaseCommand, CommandError, CommandParser

from telemetry import liveness

NOT_LIVE = 1
USAGE = 2


class Command(BaseCommand):
    help = "Says whether a worker, beat or the consumers of queues are alive (exit status 0) or not (1)."
    # a probe runs this every few seconds: no system checks, no database
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
        worker = kinds.add_parser(
            "worker", help="A worker of this host, from its liveness file.",
            description="Exit 0 if the worker's liveness file was touched within --max-age seconds.")
        worker.add_argument(
            "--name", metavar="NAME", default="",
            help="The worker's node name, as given to `celery worker -n`, read as Celery reads it (%%h, %%n "
                 "and %%d expanded). Default: celery@<this host>, Celery's own default.")
        beat = kinds.add_parser(
            "beat", help="beat, from its liveness file (or Redis).",
            description="Exit 0 if beat recorded a tick within --max-age seconds.")
        beat.add_argument("--redis", action="store_true",
                          help="Read beat's last tick from Redis (any host) instead of its file on this host.")
        queues = kinds.add_parser(
            "queues", help="The live workers and the queues they consume, from Redis.",
            description="List the live workers; exit 1 if a named queue has no live consumer, or, naming "
                        "none, if no worker is live.")
        queues.add_argument("queues", nargs="*", metavar="QUEUE", help="A queue that must have a live consumer.")
        queues.add_argument("--json", action="store_true", help="Print the live workers as one JSON object.")
        for sub in (worker, beat, queues):
            sub.add_argument("--max-age", type=float, metavar="SECONDS", default=None,
                             help="Older than this is dead. Default: JOBS_LIVENESS_MAX_AGE.")

    def handle(self, *args: Any, **options: Any) -> None:
        max_age = options["max_age"]
        if max_age is None:
            max_age = liveness.max_age()
        elif not max_age > 0:
            raise CommandError(f"--max-age must be a number of seconds above 0, not {options['max_age']}.",
                               returncode=USAGE)
        getattr(self, f"check_{options['kind']}")(options, max_age)

    def check_worker(self, options: dict[str, Any], max_age: float) -> None:
        raw_name = options["name"].strip()
        if options["name"] and not raw_name:
            raise CommandError("--name is empty: give the worker's node name, e.g. default@%h.", returncode=USAGE)
        name = host_format(default_nodename(raw_name or None))  # as `celery worker -n` reads it
        self._check_file(f"worker {name}", liveness.worker_file(name), max_age)

    def check_beat(self, options: dict[str, Any], max_age: float) -> None:
        if not options["redis"]:
            self._check_file("beat", liveness.beat_file(), max_age)
            return
        record = _read_redis(liveness.last_beat)
        if record is None:
            raise CommandError("beat is not live: no tick of beat was ever recorded in this Redis.",
                               returncode=NOT_LIVE)
        age = time.time() - record.seen_at
        where = f"on {record.hostname} (pid {record.pid})"
        if age > max_age:
            raise CommandError(f"beat is not live: its last tick, {where}, was {age:.1f}s ago (the limit is "
                               f"{max_age:g}s).", returncode=NOT_LIVE)
        self.stdout.write(f"beat is live: it ticked {max(age, 0):.1f}s ago, {where}.")

    def check_queues(self, options: dict[str, Any], max_age: float) -> None:
        wanted = [queue.strip() for queue in options["queues"]]
        if any(not queue for queue in wanted):
            raise CommandError("a QUEUE is empty: name the queues, e.g. `liveness queues default system`.",
                               returncode=USAGE)
        workers = _read_redis(lambda: liveness.live_workers(max_age=max_age))
        consumers = liveness.consumers_per_queue(workers)
        if options["json"]:
            self.stdout.write(json.dumps({"workers": [_as_json(worker) for worker in workers],
                                          "consumers": dict(sorted(consumers.items()))}))
        else:
            for worker in workers:
                seen = time.time() - worker.seen_at
                self.stdout.write(f"{worker.name}  queues {','.join(worker.queues)}  busy {worker.busy}/"
                                  f"{worker.concurrency}  pid {worker.pid}  seen {seen:.1f}s ago")
        missing = [queue for queue in wanted if not consumers.get(queue)]
        if missing:
            raise CommandError(f"no live worker consumes {', '.join(missing)}.", returncode=NOT_LIVE)
        if not workers:
            raise CommandError("no worker is live.", returncode=NOT_LIVE)

    def _check_file(self, what: str, path: Any, max_age: float) -> None:
        age = liveness.file_age(path)
        if age is None:
            raise CommandError(f"{what} is not live: it has no liveness file at {path} (not started on this host, "
                               "or started with another JOBS_LIVENESS_DIR or name).", returncode=NOT_LIVE)
        if age > max_age:
            raise CommandError(f"{what} is not live: its liveness file {path} was last touched {age:.1f}s ago "
                               f"(the limit is {max_age:g}s).", returncode=NOT_LIVE)
        self.stdout.write(f"{what} is live: its liveness file was touched {age:.1f}s ago.")


def _read_redis(read: Any) -> Any:
    try:
        return read()
    except Exception as exc:
        raise CommandError(f"Redis could not be read ({type(exc).__name__}: {exc}); liveness unknown.",
                           returncode=NOT_LIVE) from None


def _as_json(worker: liveness.WorkerRecord) -> dict[str, Any]:
    return {"name": worker.name, "hostname": worker.hostname, "pid": worker.pid, "queues": list(worker.queues),
            "concurrency": worker.concurrency, "busy": worker.busy, "idle": worker.idle, "seenAt": worker.seen_at}
