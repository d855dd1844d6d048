"""What a handler raises to steer the retry policy.

1. `RetryableError`: this attempt failed, try again (after `delay` seconds if given, else the
   type's backoff) while attempts are left.
2. `PermanentError`: fail the job now, whatever attempts are left.
3. Any other exception is treated as retryable.
4. `JobCancelled` is raised *into* the handler by `ctx.progress()` / `ctx.check_cancelled()`
   once a user asked to cancel; let it propagate and the job ends cancelled.
"""
from __future__ import annotations


class RetryableError(Exception):
    def __init__(self, message: str = "", *, delay: float | None = None) -> None:
        self.delay = delay
        super().__init__(message)


class PermanentError(Exception):
    pass


class JobCancelled(Exception):
    def __init__(self, job_id: object) -> None:
        self.job_id = job_id
        super().__init__(f"job {job_id} was cancelled")


class JobInterrupted(BaseException):
    """Raised into a running handler from outside: its worker's shutdown grace period is over
    (the job goes back to queued), it ignored a cancel for too long (it ends cancelled), or
    the rescuer gave its job to another execution (its outcome is not recorded).

    A BaseException so that a handler's `except Exception` cannot swallow it.
    """

    SHUTDOWN = "shutdown"
    CANCEL = "cancel"
    LOST = "lost"

    def __init__(self, reason: str = SHUTDOWN) -> None:
        self.reason = reason
        super().__init__(f"job interrupted: {reason}")
