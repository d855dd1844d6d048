"""Celery's result backend: django-celery-results' table, written with one upsert.

django-celery-results stores a result with get_or_create, a SELECT then an INSERT in a
transaction of their own: four round trips for every task. One INSERT ... ON CONFLICT
(task_id) DO UPDATE does the same in one, which matters on the hot path of every job.

This is Celery's result bookkeeping, not a job's result (`Job.result`). On PostgreSQL a
completed job's result row goes one step further: `jobs.services.job_complete` writes it in the
completion's own statement (`jobs.storage.queries.task_result_upsert`), and the backend, told
so by the delivery's request, has nothing left to store.

The database unreachable, a result row is not stored and nothing is raised: Celery's result
rows are bookkeeping (the Job row is the truth), and an error raised from the backend inside
Celery's tracer escapes the pool, which makes a solo worker exit ("Unrecoverable error").
"""
from __future__ import annotations

import logging
import threading
from typing import Any

from celery import states
from django.db import DatabaseError, InterfaceError, OperationalError, connections
from django.db.models.constants import OnConflict
from django.utils import timezone
from django_celery_results.backends.database import DatabaseBackend
from django_celery_results.models import TaskResult

from jobs.storage import queries

logger = logging.getLogger("conveyor.worker")

_UPDATED = ["status", "result", "traceback", "meta", "content_encoding", "content_type", "periodic_task_name",
            "task_name", "task_args", "task_kwargs", "worker", "date_done"]
# set on a delivery's request once its result row is written with the job's completion
STORED_WITH_JOB = "conveyor_result_stored"


class ResultBackend(DatabaseBackend):
    def result_row(self, task_id: str, result: Any, status: str, traceback: Any = None,
                   request: Any = None) -> tuple[TaskResult, list[str]]:
        """The unsaved row for a result, and the columns an existing row gets updated."""
        content_type, content_encoding, encoded = self.encode_content(result)
        meta = {**self._get_meta_from_request(request), "children": self.current_task_children(request)}
        _, _, encoded_meta = self.encode_content(meta)
        fields = {
            "task_id": task_id, "status": status, "result": encoded, "traceback": traceback, "meta": encoded_meta,
            "content_encoding": content_encoding, "content_type": content_type,
            **self._get_extended_properties(request, traceback),
        }
        now = timezone.now()
        row = TaskResult(**fields, date_created=now, date_done=now)
        update = list(_UPDATED)
        if status == states.STARTED:
            row.date_started = now
            update.append("date_started")
        return row, update

    def _store_result(self, task_id: str, result: Any, status: str, traceback: Any = None, request: Any = None,
                      using: str | None = None) -> Any:
        if status == states.SUCCESS and getattr(request, STORED_WITH_JOB, False):
            return result
        row, update = self.result_row(task_id, result, status, traceback, request)
        alias = using or "default"
        try:
            # bulk_create would wrap the statement in BEGIN/COMMIT; _insert (what bulk_create
            # calls for each batch) sends it alone, and autocommit commits it
            TaskResult.objects.db_manager(alias)._insert(
                [row], fields=queries.task_result_columns(), on_conflict=OnConflict.UPDATE,
                update_fields=[TaskResult._meta.get_field(name) for name in update],
                unique_fields=[TaskResult._meta.get_field("task_id")],
            )
        except (OperationalError, InterfaceError) as exc:
            _not_stored(alias, task_id, status, exc)
        else:
            _stored_again()
        return row.result


_outage_lock = threading.Lock()
_outage_skipped = 0  # result rows not stored in this process since the database went away
_in_outage = False


def _not_stored(alias: str, task_id: str, status: str, exc: BaseException) -> None:
    """One warning per outage and process, then debug lines; the next write reconnects."""
    global _in_outage, _outage_skipped
    conn = connections[alias]
    try:
        if not conn.in_atomic_block:  # inside one, the block's owner deals with the connection
            conn.close()
    except DatabaseError:  # a connection that is already gone may complain while closing
        logger.debug("closing a broken database connection failed", exc_info=True)
    with _outage_lock:
        first, _in_outage = not _in_outage, True
        _outage_skipped += 1
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    if first:
        logger.warning("Celery result rows are not stored while the database is unreachable "
                       "(task %s %s: %s); the jobs' own rows are what counts", task_id, status, first_line)
    else:
        logger.debug("Celery result of task %s (%s) not stored: %s", task_id, status, first_line)


def _stored_again() -> None:
    global _in_outage, _outage_skipped
    if not _in_outage:  # the common case, without the lock
        return
    with _outage_lock:
        skipped, _in_outage, _outage_skipped = _outage_skipped, False, 0
    if skipped:
        logger.info("Celery result rows are stored again (%s skipped while the database was unreachable)", skipped)


class DeliveryResult:
    """The Celery result of one run_job delivery, for a completion that writes it itself."""

    def __init__(self, backend: ResultBackend, task_id: str, request: Any) -> None:
        self.backend = backend
        self.task_id = task_id
        self.request = request

    def row(self, summary: dict[str, Any]) -> tuple[TaskResult, list[str]]:
        return self.backend.result_row(self.task_id, summary, states.SUCCESS, request=self.request)

    def mark_stored(self) -> None:
        setattr(self.request, STORED_WITH_JOB, True)
