"""Keeping a job's log lines for its page: the worker's half of `jobs.selectors.log_lines`.

1. `ctx.log()` hands each line to the job's link, which calls `keep_line`.
2. One pipelined round trip per line: LPUSH to the job's list, LTRIM it to
   JOBS_LOG_LINES_KEPT, EXPIRE it JOBS_LOG_RETENTION_SECONDS from now. No database write.
3. A Redis that fails or is slow never fails the job nor holds it up for long: the client
   gives up after a second, and after a failure this process stops trying for
   `_QUIET_AFTER_FAILURE` seconds, logging one warning per such pause (the lines of that
   while are lost; the worker's own log still has them).
"""
from __future__ import annotations

import logging
import threading
import time
from functools import lru_cache
from typing import Any

import redis
from django.conf import settings

from jobs.selectors.log_lines import LogLine, lines_kept, log_key, retention_seconds
from telemetry.redis_client import redis_client_url

logger = logging.getLogger("conveyor.worker")

_TIMEOUT = 1.0
_QUIET_AFTER_FAILURE = 30.0
_lock = threading.Lock()
_quiet_until = 0.0


@lru_cache(maxsize=4)
def _client_for(url: str) -> redis.Redis:
    # short timeouts of its own: the shared client waits 5 s, too long to spend in a handler
    return redis.Redis.from_url(redis_client_url(url), socket_timeout=_TIMEOUT, socket_connect_timeout=_TIMEOUT)


def keep_line(*, job_id: Any, attempt: int, level: int, message: str) -> bool:
    """Keep one line of the job's log; True if it was stored. Never raises."""
    global _quiet_until
    kept = lines_kept()
    if kept == 0 or time.monotonic() < _quiet_until:
        return False
    try:
        line = LogLine.new(attempt=attempt, level=level, message=message)
        key = log_key(job_id)
        pipe = _client_for(settings.CELERY_BROKER_URL).pipeline(transaction=False)
        pipe.lpush(key, line.encode())
        pipe.ltrim(key, 0, kept - 1)
        pipe.expire(key, retention_seconds())
        pipe.execute()
    except Exception as exc:  # redis' errors, a bad URL, a message that cannot be encoded
        with _lock:
            first = time.monotonic() >= _quiet_until
            _quiet_until = time.monotonic() + _QUIET_AFTER_FAILURE
        if first:
            logger.warning("job %s: its log lines are not kept for the job page for %.0fs (%s)", job_id,
                           _QUIET_AFTER_FAILURE, exc)
        return False
    return True


def reset() -> None:
    """Forget a past failure (tests)."""
    global _quiet_until
    _quiet_until = 0.0
