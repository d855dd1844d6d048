"""Testing modes for applications built on Conveyor (no Redis, no worker needed).

    from jobs.testing import jobs_run_inline, jobs_recorded

    with jobs_run_inline():              # each job runs in-process when its transaction commits
        create_report(...)               # (with TestCase, use captureOnCommitCallbacks(execute=True))

    with jobs_recorded() as sent:        # nothing runs; assert what was enqueued
        create_report(...)
    assert [r.job_type for r in sent] == ["reports.build"]

The same modes are available for a whole test run with JOBS_DISPATCH_MODE=inline|record.
Inline runs skip concurrency and rate limits and the heartbeat, and ignore countdowns: a
retry runs again at once.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from jobs.publishing import modes
from jobs.publishing.modes import Recorded

__all__ = ["Recorded", "jobs_recorded", "jobs_run_inline"]


@contextmanager
def _mode(mode: str) -> Iterator[None]:
    previous = modes.mode_override
    modes.mode_override = mode
    try:
        yield
    finally:
        modes.mode_override = previous


@contextmanager
def jobs_run_inline() -> Iterator[None]:
    """Run every job published inside the block in this process, when its transaction commits."""
    with _mode("inline"):
        yield


@contextmanager
def jobs_recorded() -> Iterator[list[Recorded]]:
    """Publish nothing inside the block; yield the list of what would have been published."""
    start = len(modes.recorded)
    sent: list[Recorded] = []
    with _mode("record"):
        try:
            yield sent
        finally:
            sent.extend(modes.recorded[start:])
            del modes.recorded[start:]
