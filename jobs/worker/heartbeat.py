"""The heartbeat thread of a worker process: it beats for the job the process runs now.

Every JOBS_HEARTBEAT_INTERVAL: bump the job's heartbeat_at and enforce a cancel (flag it for
the handler, interrupt the handler after JOBS_CANCEL_GRACE, and terminate the pool process
after twice that); and write how far this process has taken each queue (`jobs.worker.marks`).
One long-lived thread rather than one per job: starting and joining a thread per job cost
more than the job's SQL.
"""
from __future__ import annotations

import contextvars
import logging
import os
import signal
import threading
import time

from billiard import current_process
from django.db import connection

from handlers.context import JobContext
from handlers.errors import JobInterrupted
from jobs import services
from jobs.conf import conf
from jobs.models import Job
from jobs.worker import interrupt, marks, outage

logger = logging.getLogger("conveyor.worker")


class _Watched:
    def __init__(self, job: Job, ctx: JobContext) -> None:
        self.job = job
        self.ctx = ctx
        self.cancel_seen_at: float | None = None
        # the job's thread's context (its log fields, `telemetry.logs`): what this thread
        # logs about the job carries the same job_id, type, attempt, queue and worker
        self.log_context = contextvars.copy_context()


class Heartbeat(threading.Thread):
    """One thread per worker process (see the module's docstring)."""

    _instance: Heartbeat | None = None
    _instance_pid: int | None = None

    def __init__(self) -> None:
        super().__init__(name="conveyor-heartbeat", daemon=True)
        self.lock = threading.Lock()
        self.watched: _Watched | None = None

    @classmethod
    def for_this_process(cls) -> Heartbeat:
        # a forked pool process inherits the object but not the thread
        if cls._instance is None or cls._instance_pid != os.getpid():
            cls._instance = cls()
            cls._instance_pid = os.getpid()
            cls._instance.start()
        return cls._instance

    def watch(self, job: Job, ctx: JobContext) -> None:
        with self.lock:
            self.watched = _Watched(job, ctx)

    def unwatch(self) -> None:
        with self.lock:  # waits for a beat under way, so none is sent for a finished job
            self.watched = None

    def run(self) -> None:
        while True:
            time.sleep(conf.heartbeat_interval)
            with self.lock:
                if self.watched is not None:
                    self.watched.log_context.run(self._beat, self.watched)
            self._flush_marks()
            if self.watched is None:
                connection.close()

    def _flush_marks(self) -> None:
        try:
            marks.flush()
        except Exception as exc:  # kept for the next beat
            logger.debug("delivery marks not written (%s); will try again", exc)
            connection.close()

    def _beat(self, watched: _Watched) -> None:
        job = watched.job
        try:
            live = services.job_heartbeat(job=job)
        except outage.DATABASE_ERRORS as exc:  # one line per job and outage, shared with its other writes
            outage.unavailable(job.pk, "to write its heartbeat (the handler goes on)", exc)
            return
        except Exception:
            logger.exception("job %s: heartbeat failed; will try again", job.pk)
            connection.close()
            return
        outage.reachable(job.pk)
        if not live.owned:
            # The rescuer gave the job to another execution (this one missed heartbeats for
            # JOBS_HEARTBEAT_TIMEOUT): stop the handler, so that the two overlap as little as
            # possible, and its outcome is not recorded.
            logger.warning("job %s: this execution no longer owns the job (rescued); interrupting it", job.pk)
            self.watched = None
            interrupt.interrupt(JobInterrupted.LOST)
        elif live.cancel_requested:
            watched.ctx.cancel_event.set()
            self._enforce_cancel(watched)

    def _enforce_cancel(self, watched: _Watched) -> None:
        now = time.monotonic()
        if watched.cancel_seen_at is None:
            watched.cancel_seen_at = now
            return
        waited = now - watched.cancel_seen_at
        grace = conf.cancel_grace
        job = watched.job
        if waited >= 2 * grace and _in_pool_process():
            logger.error("job %s: handler ignored its cancel for %.0fs; terminating pool process %s",
                         job.pk, waited, os.getpid())
            try:
                services.job_acknowledge_cancel(job=job)
            finally:
                os.kill(os.getpid(), signal.SIGKILL)
        elif waited >= grace and interrupt.pending_interrupt is None:
            logger.warning("job %s: handler did not stop within %.0fs of its cancel; interrupting it", job.pk, grace)
            interrupt.interrupt(JobInterrupted.CANCEL)


def _in_pool_process() -> bool:
    """True in a prefork child, which the worker replaces if it dies; never kill a main process."""
    return current_process().name != "MainProcess"
