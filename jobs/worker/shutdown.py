"""Graceful shutdown for workers: a running job finishes within the grace period, or goes
back to queued; it never stays running.

1. SIGTERM starts Celery's warm shutdown: no new messages; running tasks go on.
2. `worker_shutting_down` (main process) starts a timer of JOBS_SHUTDOWN_GRACE seconds.
3. When it fires, every pool process gets SIGUSR2; one that is running a job raises
   JobInterrupted inside the handler (`jobs.worker.interrupt`), and the runner releases the
   job (running -> queued, new token, published again) and returns normally.
Anything that still slips through (SIGKILL, a second SIGTERM) is the rescuer's to catch.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

from celery import signals

from jobs.conf import conf
from jobs.worker import interrupt

logger = logging.getLogger("conveyor.worker")

_consumer: Any = None


@signals.worker_process_init.connect
def _on_pool_process_init(**kwargs: Any) -> None:
    interrupt.install_interrupt_handler()


@signals.worker_ready.connect
def _on_worker_ready(sender: Any = None, **kwargs: Any) -> None:
    global _consumer
    _consumer = sender
    interrupt.install_interrupt_handler()  # the solo pool runs jobs in the main process


def _pool_pids() -> list[int]:
    pool = getattr(_consumer, "pool", None)
    processes = getattr(getattr(pool, "_pool", None), "_pool", None)
    if processes:  # prefork: signal the children; idle ones ignore SIGUSR2
        return [p.pid for p in processes if p.pid]
    return [os.getpid()]


@signals.worker_shutting_down.connect
def _on_shutting_down(**kwargs: Any) -> None:
    grace = conf.shutdown_grace

    def interrupt_running_jobs() -> None:
        for pid in _pool_pids():
            try:
                os.kill(pid, signal.SIGUSR2)
            except ProcessLookupError:
                pass

    logger.warning("worker shutting down: running jobs have %.0fs to finish before they go back to queued", grace)
    timer = threading.Timer(grace, interrupt_running_jobs)
    timer.daemon = True
    timer.start()
