"""Job handlers: plain functions of a JobContext, registered with @handler."""
from __future__ import annotations

from handlers.context import JobContext
from handlers.errors import JobCancelled, PermanentError, RetryableError
from handlers.registry import Backoff, handler

__all__ = ["Backoff", "JobCancelled", "JobContext", "PermanentError", "RetryableError", "handler"]
