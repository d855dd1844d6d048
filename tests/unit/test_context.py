"""JobContext alone (handler logic, no database): throttled progress, cancellation."""
from __future__ import annotations

import pytest

from handlers.context import JobContext
from handlers.errors import JobCancelled


class FakeLink:
    def __init__(self) -> None:
        self.writes: list[tuple[int, str]] = []
        self.cancel = False

    def write_progress(self, percent: int, message: str) -> bool:
        self.writes.append((percent, message))
        return self.cancel

    def cancel_requested(self) -> bool:
        return self.cancel


def make_ctx(link: FakeLink, interval: float = 60.0) -> JobContext:
    return JobContext(job_id="j1", job_type="demo.sleep", input={}, attempt=1, max_attempts=3,
                      link=link, progress_min_interval=interval, cancel_check_interval=0)


def test_progress_writes_are_throttled_but_100_is_always_written():
    link = FakeLink()
    ctx = make_ctx(link)
    for pct in range(0, 101, 10):
        ctx.progress(pct, f"at {pct}")
    assert link.writes == [(0, "at 0"), (100, "at 100")]


def test_the_last_throttled_report_is_flushed():
    link = FakeLink()
    ctx = make_ctx(link)
    ctx.progress(10)
    ctx.progress(55, "nearly")
    ctx.flush_progress()
    assert link.writes[-1] == (55, "nearly")


def test_progress_is_clamped():
    link = FakeLink()
    make_ctx(link, interval=0).progress(250)
    assert link.writes == [(100, "")]


def test_progress_and_check_raise_once_cancel_was_requested():
    link = FakeLink()
    ctx = make_ctx(link, interval=0)
    ctx.progress(10)
    link.cancel = True
    with pytest.raises(JobCancelled, match="job j1 was cancelled"):
        ctx.progress(20)
    with pytest.raises(JobCancelled):
        ctx.check_cancelled()


def test_a_cancel_seen_by_the_heartbeat_raises_without_a_query():
    link = FakeLink()
    ctx = make_ctx(link)
    ctx.cancel_event.set()
    with pytest.raises(JobCancelled):
        ctx.check_cancelled()
