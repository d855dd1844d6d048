"""Celery's result backend: django-celery-results' table, written with one upsert.

django-celery-results stores a result with get_or_create, a SELECT then an INSERT in a
transaction of their own: four round trips for every task. One INSERT ... ON CONFLICT
(task_id) DO UPDATE does the same in one, which matters on the hot path of every job.
"""
from __future__ import annotations

from typing import Any

from celery import states
from django.db.models.constants import OnConflict
from django.utils import timezone
from django_celery_results.backends.database import DatabaseBackend
from django_celery_results.models import TaskResult

_UPDATED = ["status", "result", "traceback", "meta", "content_encoding", "content_type", "periodic_task_name",
            "task_name", "task_args", "task_kwargs", "worker", "date_done"]


class ResultBackend(DatabaseBackend):
    def _store_result(self, task_id: str, result: Any, status: str, traceback: Any = None, request: Any = None,
                      using: str | None = None) -> Any:
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
        # bulk_create would wrap the statement in BEGIN/COMMIT; _insert (what bulk_create calls
        # for each batch) sends it alone, and autocommit commits it
        meta_fields = [f for f in TaskResult._meta.concrete_fields if not f.primary_key]
        TaskResult.objects.db_manager(using or "default")._insert(
            [row], fields=meta_fields, on_conflict=OnConflict.UPDATE,
            update_fields=[TaskResult._meta.get_field(name) for name in update],
            unique_fields=[TaskResult._meta.get_field("task_id")],
        )
        return encoded
