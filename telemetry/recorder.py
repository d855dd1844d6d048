"""Counters and histograms summed across processes and hosts, in one Redis hash.

Each process adds to its own pending deltas in memory (a dict update under a lock, no I/O on
the job's path); a daemon thread of that process moves them into Redis every
JOBS_METRICS_FLUSH_INTERVAL seconds with one pipeline of HINCRBYFLOAT. /metrics, served by
any web process on any host, reads the sums back with one HGETALL. This is what
prometheus_client's multiprocess mode does for the processes of one host (files in a shared
folder), extended to every host: a job created by the web on one host and run by a prefork
pool process on another is counted once, in one scrape target.

If Redis is away, the deltas stay pending and go with the next flush that succeeds; a Redis
that restarts empty starts the sums again from zero, which Prometheus reads as a counter
reset (rate() and increase() handle it).
"""
from __future__ import annotations

import atexit
import json
import logging
import os
import threading
from bisect import bisect_left
from collections.abc import Iterable
from functools import lru_cache

from celery.signals import worker_process_shutdown
from django.conf import settings

from telemetry import redis_client

logger = logging.getLogger("conveyor.telemetry")

HASH_KEY = "conveyor:metrics"

# Field names in the hash: JSON of [metric name, label values, part]; part is "" for a
# counter, "b<i>" for the i-th histogram bucket (not cumulative; +Inf is the last), "sum" and
# "count".
Field = str


@lru_cache(maxsize=4096)  # the label sets are few and repeat on every job: encode each once
def field(name: str, values: tuple[str, ...], part: str = "") -> Field:
    return json.dumps([name, list(values), part], separators=(",", ":"))


def parse_field(raw: str | bytes) -> tuple[str, tuple[str, ...], str]:
    name, values, part = json.loads(raw)
    return name, tuple(values), part


class Recorder:
    """The pending deltas of this process and the thread that flushes them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: dict[Field, float] = {}
        self.pid = os.getpid()
        self.thread: threading.Thread | None = None
        self.wake = threading.Event()

    def add(self, key: Field, amount: float) -> None:
        with self.lock:
            self.pending[key] = self.pending.get(key, 0.0) + amount
        if self.thread is None:
            self._start()

    def add_many(self, amounts: Iterable[tuple[Field, float]]) -> None:
        with self.lock:
            for key, amount in amounts:
                self.pending[key] = self.pending.get(key, 0.0) + amount
        if self.thread is None:
            self._start()

    def _start(self) -> None:
        with self.lock:
            if self.thread is not None:
                return
            self.thread = threading.Thread(target=self._loop, name="conveyor-metrics", daemon=True)
            self.thread.start()

    def _loop(self) -> None:
        while True:
            self.wake.wait(float(getattr(settings, "JOBS_METRICS_FLUSH_INTERVAL", 1.0)))
            self.wake.clear()
            self.flush()

    def flush(self) -> bool:
        """Move the pending deltas into Redis; True when nothing is left pending."""
        with self.lock:
            taken, self.pending = self.pending, {}
        if not taken:
            return True
        try:
            pipe = redis_client.client().pipeline(transaction=False)
            for key, amount in taken.items():
                pipe.hincrbyfloat(HASH_KEY, key, amount)
            pipe.execute()
            return True
        except Exception as exc:  # Redis away: keep the deltas for the next flush
            with self.lock:
                for key, amount in taken.items():
                    self.pending[key] = self.pending.get(key, 0.0) + amount
            logger.debug("metrics flush deferred: %s", exc)
            return False


_recorder = Recorder()
_recorder_lock = threading.Lock()


def current() -> Recorder:
    """This process's recorder: a forked child (a prefork pool process) gets its own, since
    it inherits the parent's pending deltas and lock but not its thread."""
    global _recorder
    if _recorder.pid != os.getpid():
        with _recorder_lock:
            if _recorder.pid != os.getpid():
                _recorder = Recorder()
    return _recorder


def add(name: str, values: tuple[str, ...], amount: float) -> None:
    current().add(field(name, values), amount)


def observe(name: str, values: tuple[str, ...], value: float, buckets: tuple[float, ...]) -> None:
    # bisect_left: a value equal to a bound falls in that bound's bucket (le is "<=")
    index = bisect_left(buckets, value)
    current().add_many(((field(name, values, f"b{index}"), 1.0), (field(name, values, "sum"), value),
                        (field(name, values, "count"), 1.0)))


def flush() -> bool:
    """Flush this process's pending deltas now (at exit, and in tests before a scrape)."""
    return current().flush()


def read() -> dict[tuple[str, tuple[str, ...], str], float]:
    """Every sum in Redis, by (metric name, label values, part)."""
    raw = redis_client.client().hgetall(HASH_KEY)
    return {parse_field(key): float(value) for key, value in raw.items()}


def _flush_at_exit(**_: object) -> None:
    current().flush()


# A prefork pool process leaves through os._exit, which skips atexit: Celery's signal is its
# last word. Everything else flushes at interpreter exit.
atexit.register(_flush_at_exit)
worker_process_shutdown.connect(_flush_at_exit, weak=False)
