"""Graceful shutdown for workers: a running job finishes within the grace period, or goes
back to queued; it never stays running.

1. SIGTERM starts Celery's warm shutdown: no new messages; running tasks go on.
2. `worker_shutting_down` (main process) starts a timer of JOBS_SHUTDOWN_GRACE seconds.
3. When it fires, every pool process still running a job gets SIGUSR2.
4. In that process the signal raises WorkerStopping inside the handler; the runner releases
   the job (running -> queued, new token, published again) and the task returns normally.
Anything that still slips through (SIGKILL, a second SIGTERM) is the rescuer's to catch.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

from celery import signals
from django.conf import settings

from handlers.errors import WorkerStopping
from jobs import execution

logger = logging.getLogger("conveyor.worker")

_consumer: Any = None


def _raise_if_running(signum: int, frame: Any) -> None:
    if execution.current_job is not None:
        raise WorkerStopping()


def _install_handler() -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGUSR2, _raise_if_running)


@signals.worker_process_init.connect
def _on_pool_process_init(**kwargs: Any) -> None:
    _install_handler()


@signals.worker_ready.connect
def _on_worker_ready(sender: Any = None, **kwargs: Any) -> None:
    global _consumer
    _consumer = sender
    _install_handler()  # the solo pool runs jobs in the main process


def _busy_pids() -> list[int]:
    pool = getattr(_consumer, "pool", None)
    processes = getattr(getattr(pool, "_pool", None), "_pool", None)
    if processes:  # prefork: signal the children; idle ones ignore SIGUSR2
        return [p.pid for p in processes if p.pid]
    return [os.getpid()]


@signals.worker_shutting_down.connect
def _on_shutting_down(**kwargs: Any) -> None:
    grace = settings.JOBS_SHUTDOWN_GRACE

    def interrupt() -> None:
        for pid in _busy_pids():
            try:
                os.kill(pid, signal.SIGUSR2)
            except ProcessLookupError:
                pass

    logger.warning("worker shutting down: running jobs have %.0fs to finish before they go back to queued", grace)
    timer = threading.Timer(grace, interrupt)
    timer.daemon = True
    timer.start()
