"""The job this process runs now, and SIGUSR2 raising JobInterrupted into its handler.

The heartbeat thread (a cancel ignored too long, the job rescued away) and the shutdown
timer (the grace period is over) interrupt a handler the same way: they say why in
`pending_interrupt`, then send SIGUSR2 to the process; its handler raises JobInterrupted in
the main thread, where the handler runs.
"""
from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from handlers.errors import JobInterrupted
from jobs.models import Job

# The job this process is running right now, and why it is being interrupted, for SIGUSR2.
current_job: Job | None = None
pending_interrupt: str | None = None


def _on_interrupt_signal(signum: int, frame: Any) -> None:
    if current_job is not None:
        raise JobInterrupted(pending_interrupt or JobInterrupted.SHUTDOWN)


def install_interrupt_handler() -> None:
    """SIGUSR2 raises JobInterrupted in the handler running in this process's main thread."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGUSR2, _on_interrupt_signal)


def interrupt(reason: str) -> None:
    """Interrupt the handler running in this process's main thread, for `reason`."""
    global pending_interrupt
    pending_interrupt = reason
    signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR2)  # type: ignore[arg-type]


@contextmanager
def running(job: Job) -> Iterator[None]:
    """Mark `job` as the one this process runs, for the length of the block."""
    global current_job, pending_interrupt
    current_job, pending_interrupt = job, None
    try:
        yield
    finally:
        current_job, pending_interrupt = None, None
