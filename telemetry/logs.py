"""Log lines an operator can follow: the job a line is about, JSON lines, quiet periodic tasks.

- `bind_job()` / `unbind_job()`: the worker binds the job it runs (id, type, attempt, queue,
  worker) to the current context while the job runs (`jobs.worker.log_context`), and
  `JobContextFilter` copies it onto every record logged meanwhile, from any logger: the
  platform's, the handler's, Celery's. A context variable, so that a thread pool's jobs
  each see their own, and a record logged outside a job gets nothing.
- `JsonFormatter`: one JSON object per line (LOG_FORMAT=json): time, level, logger,
  message, process, the job's fields when there is a job, the traceback as `exc_info`.
- `QuietTasks`: Celery's lines about each run of the periodic tasks (rescuer, sweeper, ...):
  "received", "succeeded" and, for a tick that expired, "discarding". They come every few
  seconds whether or not the task did anything: logged at DEBUG; the tasks say at INFO
  themselves when they did something.

config/settings.py's LOGGING wires them; this module imports nothing of the platform, and
nothing of Django, since logging is configured before the apps are loaded.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, fields, replace
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter


@dataclass(frozen=True)
class JobLogContext:
    job_id: str
    job_type: str | None = None
    attempt: int | None = None
    queue: str | None = None
    worker: str | None = None


FIELDS = tuple(field.name for field in fields(JobLogContext))

_current: ContextVar[JobLogContext | None] = ContextVar("conveyor_job_log_context", default=None)


def bind_job(job_id: str, **values: Any) -> Token[JobLogContext | None]:
    """Bind the job that this context runs now; `unbind_job(token)` restores what was there."""
    return _current.set(JobLogContext(job_id=str(job_id), **values))


def annotate_job(**values: Any) -> None:
    """Add what became known (the attempt, once the job is claimed) to the bound job, if any.
    The token of `bind_job` still restores the state from before it."""
    context = _current.get()
    if context is not None:
        _current.set(replace(context, **values))


def unbind_job(token: Token[JobLogContext | None]) -> None:
    _current.reset(token)


@contextmanager
def job_bound(job_id: str, **values: Any) -> Iterator[None]:
    """Bind a job for the lines logged inside the block (the rescuer's, the sweeper's, which
    act on many jobs one after the other)."""
    token = bind_job(job_id, **values)
    try:
        yield
    finally:
        unbind_job(token)


def current_job() -> JobLogContext | None:
    return _current.get()


class JobContextFilter(logging.Filter):
    """Copies the bound job's fields onto each record (without overwriting a record's own
    `extra`); a record logged outside a job is left as it is."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = _current.get()
        if context is not None:
            for name in FIELDS:
                value = getattr(context, name)
                if value is not None and not hasattr(record, name):
                    setattr(record, name, value)
        return True


# Record attributes that are not worth a JSON field: Celery's `data` repeats the message's
# values (and would print task arguments), Django's `request` and `server_time` are objects
# and a copy of the time.
_NOT_FIELDS = frozenset({"data", "request", "server_time", "color_message", "taskName"})


class JsonFormatter(_JsonFormatter):
    """python-json-logger's formatter with the project's field names:
    {"time": ISO 8601 UTC, "level", "logger", "message", "process", <job fields>, "exc_info"}."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", ["levelname", "name", "message", "process"])
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", "time")
        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, *_NOT_FIELDS])
        super().__init__(*args, **kwargs)

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        super().add_fields(log_data, record, message_dict)
        if "time" in log_data:  # first, where a reader's eye (and `sort`) looks for it
            logged = dict(log_data)
            log_data.clear()
            log_data["time"] = logged.pop("time")
            log_data.update(logged)


class QuietTasks(logging.Filter):
    """Logs Celery's INFO lines about the given tasks at DEBUG: for the loggers of Celery's
    worker (celery.worker.strategy, celery.app.trace, celery.worker.request). A failure of
    those tasks is logged at ERROR, and is left alone."""

    def __init__(self, tasks: Iterable[str] = ()) -> None:
        super().__init__()
        self.tasks = frozenset(tasks)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or self._task_of(record) not in self.tasks:
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)

    @staticmethod
    def _task_of(record: logging.LogRecord) -> str | None:
        """The task a record of Celery's worker is about: its `data` (received, succeeded), or
        the first argument of "Discarding revoked task: %s[%s]" (a tick that expired)."""
        data = getattr(record, "data", None)
        if isinstance(data, dict):
            return data.get("name")
        if isinstance(record.args, tuple) and record.args and isinstance(record.args[0], str):
            return record.args[0]
        return None
