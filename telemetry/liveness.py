"""Liveness records of workers and beat: in Redis for whoever watches the whole deployment
(/metrics, notifications, `manage.py liveness queues`), and in a local file for the probe of
the process's own host (`manage.py liveness worker|beat`, no network needed).

Workers. Each worker's main process writes its `WorkerRecord` every JOBS_LIVENESS_INTERVAL
seconds (`jobs.worker.liveness`, a bootstep; nothing is written per task) under its own key,
which expires JOBS_LIVENESS_MAX_AGE seconds after the last write, by Redis's clock: a worker
killed with SIGKILL drops out of `live_workers()` by itself. A sorted set lists the names, so
that reading every record is one ZRANGE and one MGET, never a SCAN.

Beat. Its scheduler (`scheduler.beat_scheduler`) records its last tick, at most once per
interval: `record_beat_tick()` and `last_beat_tick()`. That key never expires, so that an
alert can say how long ago beat last ticked.

Files. The same writers touch a file per process under JOBS_LIVENESS_DIR (default
<CONVEYOR_VAR_DIR>/liveness): `worker-<node name>` and `beat`; its mtime is the last write.
Under a systemd unit with WatchdogSec=, they also notify its watchdog (`notify_watchdog`).
"""
from __future__ import annotations

import json
import os
import re
import socket
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings

from telemetry import redis_client

WORKERS_KEY = "conveyor:liveness:workers"
WORKER_KEY_PREFIX = "conveyor:liveness:worker:"
BEAT_KEY = "conveyor:liveness:beat"
# A name whose record has not been written for this long leaves the sorted set (its key has
# long expired); pruned by every write, so that the set cannot grow with every worker ever run.
_FORGET_NAMES_AFTER = 3600.0


@dataclass(frozen=True)
class WorkerRecord:
    """What one worker's main process said about itself at `seen_at` (Unix time)."""

    name: str  # Celery's node name, e.g. celery@host
    hostname: str
    pid: int
    queues: tuple[str, ...]
    concurrency: int  # the pool's size
    busy: int  # tasks running now
    seen_at: float

    @property
    def idle(self) -> int:
        return max(self.concurrency - self.busy, 0)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> WorkerRecord:
        data = json.loads(raw)
        return cls(name=str(data["name"]), hostname=str(data["hostname"]), pid=int(data["pid"]),
                   queues=tuple(str(queue) for queue in data["queues"]), concurrency=int(data["concurrency"]),
                   busy=int(data["busy"]), seen_at=float(data["seen_at"]))


@dataclass(frozen=True)
class BeatRecord:
    """beat's last recorded tick (Unix time) and where it runs."""

    seen_at: float
    hostname: str
    pid: int


# --- settings, read at call time -----------------------------------------------------------------


def interval() -> float:
    """Seconds between two writes of a worker's or beat's liveness."""
    return float(getattr(settings, "JOBS_LIVENESS_INTERVAL", 5.0))


def max_age() -> float:
    """A record or file older than this many seconds is not live."""
    return float(getattr(settings, "JOBS_LIVENESS_MAX_AGE", 30.0))


def liveness_dir() -> Path:
    return Path(getattr(settings, "JOBS_LIVENESS_DIR", "") or Path(settings.VAR_DIR) / "liveness")


# --- workers ---------------------------------------------------------------------------------------


def record_worker(record: WorkerRecord) -> None:
    """Store `record`; it stays live for JOBS_LIVENESS_MAX_AGE seconds unless written again."""
    pipe = redis_client.client().pipeline(transaction=False)
    pipe.set(WORKER_KEY_PREFIX + record.name, record.to_json(), px=max(int(max_age() * 1000), 1))
    pipe.zadd(WORKERS_KEY, {record.name: record.seen_at})
    pipe.zremrangebyscore(WORKERS_KEY, "-inf", record.seen_at - _FORGET_NAMES_AFTER)
    pipe.execute()


def forget_worker(name: str) -> None:
    """Remove a worker's record at once (it stopped consuming: a warm shutdown)."""
    pipe = redis_client.client().pipeline(transaction=False)
    pipe.delete(WORKER_KEY_PREFIX + name)
    pipe.zrem(WORKERS_KEY, name)
    pipe.execute()


def live_workers(max_age: float | None = None) -> list[WorkerRecord]:
    """Every worker whose record is live (written within JOBS_LIVENESS_MAX_AGE, by Redis's
    clock), by name; with `max_age`, also seen within that many seconds by this host's clock.
    Raises redis' errors when Redis cannot be reached."""
    client = redis_client.client()
    raw_names: list[bytes | str] = client.zrange(WORKERS_KEY, 0, -1)  # type: ignore[assignment]
    names = [name.decode() if isinstance(name, bytes) else name for name in raw_names]
    if not names:
        return []
    values = client.mget([WORKER_KEY_PREFIX + name for name in names])
    records = []
    for raw in values:
        if raw is None:
            continue  # expired: that worker stopped writing
        try:
            records.append(WorkerRecord.from_json(raw))
        except (ValueError, KeyError, TypeError):
            continue  # not a record of this version: ignore rather than fail every reader
    if max_age is not None:
        oldest = time.time() - max_age
        records = [record for record in records if record.seen_at >= oldest]
    return sorted(records, key=lambda record: record.name)


def consumers_per_queue(workers: Iterable[WorkerRecord]) -> Counter[str]:
    """How many of `workers` consume each queue."""
    return Counter(queue for worker in workers for queue in set(worker.queues))


# --- beat ------------------------------------------------------------------------------------------


def record_beat_tick(now: float | None = None) -> None:
    """Store beat's tick (Unix time) with the host and process that made it."""
    record = BeatRecord(seen_at=time.time() if now is None else now, hostname=socket.gethostname(), pid=os.getpid())
    redis_client.client().set(BEAT_KEY, json.dumps(asdict(record), separators=(",", ":")))


def last_beat() -> BeatRecord | None:
    """beat's last recorded tick, or None if no beat ever recorded one (in this Redis)."""
    raw = redis_client.client().get(BEAT_KEY)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        return BeatRecord(seen_at=float(data["seen_at"]), hostname=str(data["hostname"]), pid=int(data["pid"]))
    except (ValueError, KeyError, TypeError):
        return None


def last_beat_tick() -> float | None:
    """When beat last ticked (Unix time), or None if it never did."""
    record = last_beat()
    return record.seen_at if record is not None else None


# --- files -----------------------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9@._-]")


def worker_file(name: str) -> Path:
    """The liveness file of the worker with node name `name`, in JOBS_LIVENESS_DIR."""
    return liveness_dir() / f"worker-{_UNSAFE.sub('_', name)}"


def beat_file() -> Path:
    return liveness_dir() / "beat"


def touch(path: Path, content: str = "") -> None:
    """Set `path`'s mtime to now; create it (and its folder), with `content`, if missing.
    Only the mtime changes afterwards: a full disk does not make a live process look dead."""
    try:
        os.utime(path)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        temporary.write_text(content)
        os.replace(temporary, path)


def notify_watchdog() -> bool:
    """Tell systemd that this process is alive, when its unit has a watchdog (WatchdogSec=,
    which sets NOTIFY_SOCKET and WATCHDOG_USEC, and WATCHDOG_PID for the main process only);
    elsewhere nothing. True if a notification was sent."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address or not os.environ.get("WATCHDOG_USEC"):
        return False
    if os.environ.get("WATCHDOG_PID", str(os.getpid())) != str(os.getpid()):
        return False  # a child of the process the unit watches
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall(b"WATCHDOG=1")
    return True


def file_age(path: Path, now: float | None = None) -> float | None:
    """Seconds since `path` was last touched, or None if it does not exist."""
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return None
    return max((time.time() if now is None else now) - mtime, 0.0)
