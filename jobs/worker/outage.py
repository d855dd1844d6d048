"""What an execution does while the database is unreachable.

The database goes away (PostgreSQL restarted or failed over, a network cut): an execution's
claim, progress writes and outcome raise OperationalError or InterfaceError. None of them is
worth a traceback, and a worker must not log one for every write during the outage:

- `unavailable(job_id, doing, exc)`: the first failure of a job in an outage logs one warning,
  "job <id> waits for the database <doing> (<reason>)", say "... to be claimed (...)"; later
  ones in the same outage are debug lines. The connection is closed, so that the next use opens a new one.
- `reachable(job_id)`: the first write of that job that goes through again logs one line,
  "job <id>: the database is reachable again after N s; proceeds", and ends its outage.
- `wait_until_reachable(job_id, deadline)`: sleep with a capped backoff (0.5, 1, 2, 2 ... s)
  and probe with `SELECT 1` until the database answers or the deadline comes;
  `record_when_reachable` does the same around an outcome's write.

The record of who waits is this process's: a job's claim, progress and outcome all run in the
process that took its message. A message offered again carries the time its job began to
wait (`WAIT_HEADER`), so that its next delivery does not announce the same outage again.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError, InterfaceError, OperationalError, connection

logger = logging.getLogger("conveyor.worker")

DATABASE_ERRORS: tuple[type[BaseException], ...] = (OperationalError, InterfaceError)

# a run_job message offered again while its job waits: the wall-clock time it began to wait
WAIT_HEADER = "conveyor_db_wait_since"

# A reconnection attempt to a server that is down costs a refused connection, nothing more;
# the cap keeps a job from sleeping long after the database is back (and its heartbeat from
# going stale meanwhile, which would let the rescuer take the job).
BACKOFF = (0.5, 1.0, 2.0)


class OutcomeNotRecorded(Exception):
    """The handler ran but its outcome could not reach the database within the wait."""


_lock = threading.Lock()
# job id -> time.monotonic() when the job began to wait for the database
_down: dict[str, float] = {}


def backoff(attempt: int) -> float:
    return BACKOFF[min(attempt, len(BACKOFF) - 1)]


def reason(exc: BaseException) -> str:
    """The first line of a database error (psycopg's run to several), shortened."""
    text = str(exc).strip().splitlines()
    line = text[0].strip() if text else ""
    return f"{type(exc).__name__}: {line[:200]}" if line else type(exc).__name__


def close_connection() -> None:
    """Drop this thread's connection after a failure: Django would otherwise keep using the
    dead one (a worker reuses its connection across tasks, CELERY_DB_REUSE_MAX). Not inside a
    transaction block (a handler's own): its owner sees the error and deals with it."""
    try:
        if not connection.in_atomic_block:
            connection.close()
    except DatabaseError:  # a connection that is already gone may complain while closing
        logger.debug("closing a broken database connection failed", exc_info=True)


def unavailable(job_id: Any, doing: str, exc: BaseException) -> None:
    """A database step of `job_id` failed for want of the database."""
    close_connection()
    key = str(job_id)
    with _lock:
        first = key not in _down
        if first:
            _down[key] = time.monotonic()
    if first:
        logger.warning("job %s waits for the database %s (%s)", key, doing, reason(exc))
    else:
        logger.debug("job %s still waits for the database %s (%s)", key, doing, reason(exc))


def reachable(job_id: Any) -> None:
    """A database step of `job_id` went through: end its outage, if it had one."""
    if not _down:  # the common case, without the lock
        return
    with _lock:
        since = _down.pop(str(job_id), None)
    if since is not None:
        logger.info("job %s: the database is reachable again after %.1fs; proceeds", job_id, time.monotonic() - since)


def waiting(job_id: Any) -> bool:
    return str(job_id) in _down


def waiting_since(job_id: Any) -> float | None:
    """The wall-clock time `job_id` began to wait, or None."""
    with _lock:
        since = _down.get(str(job_id))
    return None if since is None else time.time() - (time.monotonic() - since)


def resume(job_id: Any, since: float) -> None:
    """A delivery of a message offered again while its job waited: the same outage, already
    announced by the delivery before."""
    with _lock:
        _down.setdefault(str(job_id), time.monotonic() - max(0.0, time.time() - since))


def forget(job_id: Any) -> None:
    """Drop `job_id`'s outage without a line (its message carries it on, or the execution ended)."""
    with _lock:
        _down.pop(str(job_id), None)


def probe() -> None:
    """One round trip to the database; raises one of DATABASE_ERRORS when it does not answer."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def wait_until_reachable(job_id: Any, deadline: float, stop: Callable[[], bool] = lambda: False) -> bool:
    """Sleep and probe with a capped backoff until the database answers (True, and the job's
    outage ends with one line) or the next sleep would pass `deadline` (time.monotonic()) or
    `stop()` says to give up (False)."""
    attempt = 0
    while True:
        delay = backoff(attempt)
        attempt += 1
        if stop() or time.monotonic() + delay > deadline:
            return False
        time.sleep(delay)
        try:
            probe()
        except DATABASE_ERRORS as exc:
            close_connection()
            logger.debug("job %s: the database does not answer yet (%s)", job_id, reason(exc))
            continue
        reachable(job_id)
        return True


def record_when_reachable(record: Callable[[], Any], job_id: Any, *, limit: float) -> Any:
    """Run `record` (an outcome's write, which may run twice: it is guarded by the job's token
    and finds its own earlier commit) until it goes through, waiting for the database between
    failures for up to `limit` seconds in all; then raise OutcomeNotRecorded."""
    doing = "to record its outcome"
    deadline = time.monotonic() + limit
    while True:
        try:
            result = record()
        except DATABASE_ERRORS as exc:
            unavailable(job_id, doing, exc)
            if not wait_until_reachable(job_id, deadline):
                raise OutcomeNotRecorded(f"job {job_id}: its outcome not recorded, the database unreachable "
                                         f"for {limit:.0f}s ({reason(exc)})") from exc
            continue
        reachable(job_id)
        return result
