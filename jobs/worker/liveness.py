"""The worker's liveness: a bootstep of the worker's main process that writes its
`telemetry.liveness.WorkerRecord` to Redis and touches its liveness file every
JOBS_LIVENESS_INTERVAL seconds. Nothing happens per task.

Two parts, so that the writing never holds up the event loop that hands out jobs, and says
whether that loop still turns:
- an entry on the worker's timer (the event loop's own timer) notes, every interval, that
  the loop turned: nothing more, no I/O;
- a thread of the main process writes the record, touches the file and, under a systemd
  unit with a watchdog, notifies it, as long as the loop turned within three intervals, or
  is not expected to turn: the consumer is waiting for the broker (it reconnects for as
  long as it takes, and its running jobs go on), or a job runs in the loop itself (the solo
  pool). A main process whose loop is stuck stops renewing its liveness: its probe
  (`manage.py liveness worker`) fails once the file is older than JOBS_LIVENESS_MAX_AGE,
  and systemd restarts it after WatchdogSec.
A warm shutdown removes the record at once (the worker no longer consumes), and the file
when the process exits: until then (running jobs get JOBS_SHUTDOWN_GRACE to finish) the
probe still passes. A worker killed with SIGKILL leaves both to grow old.
"""
from __future__ import annotations

import atexit
import json
import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from celery import bootsteps, signals
from celery.concurrency.solo import TaskPool as SoloPool
from celery.worker import state as worker_state

from telemetry import liveness

logger = logging.getLogger("conveyor.worker")

# the loop is taken as stuck when the timer entry has not run for this many intervals
_STALL_INTERVALS = 3


class Liveness(bootsteps.StartStopStep):
    """The worker bootstep (see the module's docstring)."""

    label = "Liveness"
    requires = ("celery.worker.components:Timer", "celery.worker.components:Pool")

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.worker = worker
        self.interval = liveness.interval()
        self.loop_turned_at = time.monotonic()
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.timer_entry: Any = None
        self.stalled = False

    def start(self, worker: Any) -> None:
        atexit.register(_remove_file, liveness.worker_file(worker.hostname), os.getpid())
        self.loop_turned_at = time.monotonic()
        self.timer_entry = worker.timer.call_repeatedly(self.interval, self._loop_turned)
        self.thread = threading.Thread(target=self._run, name="conveyor-liveness", daemon=True)
        self.thread.start()

    def stop(self, worker: Any) -> None:
        self.stopping.set()
        if self.timer_entry is not None:
            self.timer_entry.cancel()
        if self.thread is not None:
            self.thread.join(timeout=2)
        try:
            liveness.forget_worker(worker.hostname)
        except Exception as exc:  # Redis away: the record expires by itself
            logger.debug("liveness record of %s not removed (%s)", worker.hostname, exc)

    def terminate(self, worker: Any) -> None:  # a cold shutdown: the same, at once
        self.stop(worker)

    def _loop_turned(self) -> None:
        self.loop_turned_at = time.monotonic()

    def _run(self) -> None:
        while True:
            try:
                self.renew()
            except Exception:  # this thread must outlive any one failure, or the worker looks dead
                logger.exception("worker %s: liveness not renewed", self.worker.hostname)
            if self.stopping.wait(self.interval):
                return

    def renew(self) -> bool:
        """Write the record and touch the file if the worker is live; True if it is."""
        if not self._live():
            if not self.stalled:
                self.stalled = True
                logger.error("worker %s: its event loop has not turned for %.0fs; liveness not renewed",
                             self.worker.hostname, time.monotonic() - self.loop_turned_at)
            return False
        if self.stalled:
            self.stalled = False
            logger.warning("worker %s: its event loop turns again; liveness renewed", self.worker.hostname)
        record = self.record()
        try:
            liveness.touch(liveness.worker_file(record.name), json.dumps({"name": record.name, "pid": record.pid}))
        except OSError as exc:
            logger.warning("worker %s: liveness file not touched (%s)", record.name, exc)
        try:
            liveness.notify_watchdog()
        except OSError as exc:
            logger.warning("worker %s: systemd's watchdog not notified (%s)", record.name, exc)
        if self.stopping.is_set():
            return True  # stopped meanwhile: its record is being removed, not written again
        try:
            liveness.record_worker(record)
        except Exception as exc:  # Redis away: the consumer is reconnecting too; next interval
            logger.debug("worker %s: liveness record not written (%s)", record.name, exc)
        return True

    def _live(self) -> bool:
        if time.monotonic() - self.loop_turned_at <= _STALL_INTERVALS * self.interval:
            return True
        if getattr(getattr(self.worker, "consumer", None), "connection", None) is None:
            return True  # connecting or reconnecting to the broker, which has its own retries
        return isinstance(getattr(self.worker, "pool", None), SoloPool) and bool(worker_state.active_requests)

    def record(self) -> liveness.WorkerRecord:
        worker = self.worker
        return liveness.WorkerRecord(
            name=worker.hostname,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            queues=tuple(sorted(worker.app.amqp.queues.consume_from or {})),
            concurrency=_pool_size(worker),
            busy=len(worker_state.active_requests),
            seen_at=time.time(),
        )


def _remove_file(path: Path, pid: int) -> None:
    if os.getpid() == pid:  # not in a pool process that inherited the hook
        path.unlink(missing_ok=True)


def _pool_size(worker: Any) -> int:
    pool: Any = getattr(worker, "pool", None)
    try:
        size = pool.num_processes  # prefork: the processes running now (autoscale changes it)
    except Exception:
        size = getattr(pool, "limit", None)  # solo: 1; threads: the pool's threads
    return int(size or worker.concurrency or 0)


@signals.celeryd_init.connect
def _add_liveness_step(sender: Any = None, instance: Any = None, **kwargs: Any) -> None:
    # the worker reads its app's steps right after this signal, when it builds its blueprint
    if instance is not None:
        instance.app.steps["worker"].add(Liveness)
