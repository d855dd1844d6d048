"""JobContext: everything a handler may know of and do to the job it runs.

The runner gives the context a `JobLink`: what stands between the context and the job's record
(the Job row of a tracked job, the worker log of an untracked one). A handler sees only its
input, the attempt number, and three verbs: progress, log and check_cancelled.

`log()` writes to the worker's log and, when the link keeps lines (`LineKeeper`: a tracked
job's does), hands it the line too, so that the job's page shows its last lines. Keeping a
line is best effort: it never raises into the handler.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any, Protocol

from handlers.errors import JobCancelled

logger = logging.getLogger("conveyor.handlers")


class JobLink(Protocol):
    """Where a context stores progress and learns of a cancel."""

    def write_progress(self, percent: int, message: str) -> bool:
        """Store progress; True when a cancel has been requested."""

    def cancel_requested(self) -> bool:
        """True when a cancel has been requested."""


class LineKeeper(Protocol):
    """A link that also keeps the job's log lines (for the job's page)."""

    def write_log(self, attempt: int, level: int, message: str) -> None:
        """Keep one line; must not raise (a lost line must never fail the job)."""


# older name of JobLink
JobChannel = JobLink


class JobContext:
    def __init__(
        self,
        *,
        job_id: str,
        job_type: str,
        input: dict[str, Any],
        attempt: int,
        max_attempts: int,
        link: JobLink,
        progress_min_interval: float = 1.0,
        cancel_check_interval: float = 0.5,
    ) -> None:
        self.job_id = job_id
        self.type = job_type
        self.input = input
        self.attempt = attempt
        self.max_attempts = max_attempts
        self._link = link
        self._progress_min_interval = progress_min_interval
        self._cancel_check_interval = cancel_check_interval
        self._last_write = float("-inf")
        self._last_cancel_check = float("-inf")
        self._pending: tuple[int, str] | None = None
        # set by the heartbeat thread when it sees a cancel request
        self.cancel_event = threading.Event()
        self.logger = logging.LoggerAdapter(
            logger, {"job_id": job_id, "job_type": job_type, "attempt": attempt}
        )

    def progress(self, percent: float, message: str = "") -> None:
        """Report progress (0-100). Writes are throttled; 100 is always written.

        Raises JobCancelled once a cancel was requested.
        """
        pct = max(0, min(100, int(percent)))
        now = time.monotonic()
        if pct >= 100 or now - self._last_write >= self._progress_min_interval:
            self._last_write = now
            self._pending = None
            if self._link.write_progress(pct, message[:500]):
                self.cancel_event.set()
        else:
            self._pending = (pct, message[:500])
        self.check_cancelled()

    def flush_progress(self) -> None:
        """Write the last throttled progress report, if any (the runner calls it at the end)."""
        if self._pending is not None:
            pct, message = self._pending
            self._pending = None
            self._link.write_progress(pct, message)

    def check_cancelled(self) -> None:
        """Raise JobCancelled if a cancel was requested; cheap enough to call in a loop."""
        if self.cancel_event.is_set():
            raise JobCancelled(self.job_id)
        now = time.monotonic()
        if now - self._last_cancel_check >= self._cancel_check_interval:
            self._last_cancel_check = now
            if self._link.cancel_requested():
                self.cancel_event.set()
                raise JobCancelled(self.job_id)

    def log(self, message: str, *args: Any, level: int = logging.INFO) -> None:
        """Log a line tagged with the job's id, type and attempt (`message % args`, as logging
        formats it); the job's page shows the last lines of a tracked job."""
        self.logger.log(level, f"job {self.job_id} [{self.type} attempt {self.attempt}] {message}", *args)
        keeper = getattr(self._link, "write_log", None)
        if keeper is None:
            return
        try:
            keeper(self.attempt, level, _formatted(message, args))
        except Exception:  # a link that broke its promise still costs the handler nothing
            logger.debug("job %s: log line not kept", self.job_id, exc_info=True)


def _formatted(message: str, args: tuple[Any, ...]) -> str:
    """The line as logging would print it; arguments that do not fit the format are appended,
    as a line with a mistake in it is still worth keeping."""
    text = str(message)
    if not args:
        return text
    values: Any = args
    if len(args) == 1 and isinstance(args[0], Mapping) and args[0]:
        values = args[0]  # "%(name)s" with one mapping, as logging reads it
    try:
        return text % values
    except (TypeError, ValueError, KeyError):
        return f"{text} {' '.join(repr(arg) for arg in args)}"
